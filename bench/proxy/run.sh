#!/usr/bin/env bash
# SMTP proxy throughput: Postfix's smtp-source at 20 concurrent sessions, straight into smtp-sink
# (the baseline) and through `detach serve` into the same smtp-sink, for plain 5 KB mails and for
# mails carrying a 10 MiB attachment. Prints messages/s, MB/s (of message data sent by smtp-source)
# and detach's peak RSS (VmHWM) per scenario. No Postfix instance is needed, only its tools.
#
# Usage: bench/proxy/run.sh [--no-build]
#   SESSIONS (20), PLAIN_MESSAGES (20000), LARGE_MESSAGES (40), ATTACHMENT_MIB (10), REPEAT (3), WARMUP (6000)
#   override the load. ONLY=plain or ONLY=large runs one scenario.
#   SCAN=1 also runs the attachment scenario through a second detach that scans every attachment with a private
#   clamd (Debian's clamav-daemon), alternating with the unscanned one: direct, detach, detach + scan per round.
#   The clamd gets a database with one signature (the EICAR test file) unless CLAMD_DATABASE names a folder with
#   real ones (e.g. /var/lib/clamav after freshclam): scanning cost grows with the database, so say which was used.
#   For "1 MiB attachments with scanning on and off":
#     SCAN=1 ONLY=large ATTACHMENT_MIB=1 LARGE_MESSAGES=400 REPEAT=5 bench/proxy/run.sh
#   BASELINE=/path/to/another/build (a folder with detach.dll, e.g. a copy of artifacts/bench-proxy made before a
#   change) also runs the attachment scenario through a detach from that build, alternating with this one, and
#   prints both CPU costs per message: an A/B of a change on the same machine in the same minutes.
#   BASELINE_SETTINGS="KEY=VALUE ..." go to the baseline detach only (after this script's own): with BASELINE set to
#   this build's folder (artifacts/bench-proxy), an A/B of a setting, e.g. the vault on another file system:
#     BASELINE="$PWD/artifacts/bench-proxy" BASELINE_SETTINGS="DataPath=/mnt/other/detach" ONLY=large ...
#   LARGE_WARMUP (200) attachment messages warm each detach up before the attachment rounds.
#   Other detach settings reach every detach as environment variables, e.g. DETACH__TotalMessageMemoryBytes=0.
#   Peak RSS per mail size: one run per size, e.g. ONLY=large ATTACHMENT_MIB=100 LARGE_MESSAGES=20 REPEAT=1.
#   COLD=N measures a start under steady load instead: each round starts a fresh detach and sends it N attachment
#   messages in one unbroken smtp-source run (no warm-up), once as is and once with the variables in COLD_ENV
#   (default DOTNET_TC_CallCountingDelayMs=0: tiering without its startup delay), the order alternating per round;
#   it prints detach's CPU per message over the whole run, JIT included. E.g.
#     COLD=6000 ONLY=large ATTACHMENT_MIB=1 REPEAT=3 bench/proxy/run.sh
# Each measurement is repeated REPEAT times (the machine is shared: look at the spread, not one number).
# Needs: dotnet, smtp-source and smtp-sink (Debian package postfix), run as root or any user
# (smtp-sink drops to nobody when root).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
. "$here/../common.sh"
sessions="${SESSIONS:-20}"
plain_messages="${PLAIN_MESSAGES:-20000}"
repeat="${REPEAT:-3}"
large_messages="${LARGE_MESSAGES:-40}"
attachment_mib="${ATTACHMENT_MIB:-10}"
warmup="${WARMUP:-6000}"
only="${ONLY:-all}"
scan="${SCAN:-0}"
baseline="${BASELINE:-}"
large_warmup="${LARGE_WARMUP:-200}"

need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || { echo "missing: $1 (apt-get install postfix)" >&2; exit 2; }; }
need smtp-source; need smtp-sink; need dotnet
[ -z "$baseline" ] || [ -f "$baseline/detach.dll" ] || { echo "BASELINE=$baseline has no detach.dll" >&2; exit 2; }
[ "$scan" != 1 ] || [ -x /usr/sbin/clamd ] || { echo "missing: clamd (apt-get install clamav-daemon)" >&2; exit 2; }
PATH="$PATH:/usr/sbin"

publish="$root/artifacts/bench-proxy"
if [ "${1:-}" != "--no-build" ] || [ ! -f "$publish/detach.dll" ]; then
  dotnet build -c Release -o "$publish" "$root/src/Gateway/Detach.Gateway.csproj" -v quiet -nologo >/dev/null
fi

work="$(mktemp -d /tmp/detach-bench-proxy.XXXXXX)"
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

make_plain "$work/plain.eml"
make_large "$work/large.eml" "$attachment_mib"

sink_port="$(free_port)"
smtp-sink -u nobody "127.0.0.1:$sink_port" 256 &
pids+=($!)
wait_port "$sink_port"

# Runs smtp-source; prints "msgs/s MB/s" (MB = 10^6 bytes of message file sent per message) and, given a pid,
# that process's CPU milliseconds per message. Extra smtp-source flags (e.g. -d) come after the pid.
drive() {
  local port="$1" file="$2" count="$3" pid="${4:-}" start end bytes before=0 after=0
  shift 4 || shift $#
  bytes="$(stat -c %s "$file")"
  [ -n "$pid" ] && before="$(cpu_ticks "$pid")"
  start="$(date +%s.%N)"
  smtp-source "$@" -s "$sessions" -m "$count" -f bench@client.test -t alice@example.test -M client.example.test -F "$file" "127.0.0.1:$port"
  end="$(date +%s.%N)"
  [ -n "$pid" ] && after="$(cpu_ticks "$pid")"
  awk -v n="$count" -v b="$bytes" -v s="$start" -v e="$end" -v c="$((after - before))" -v hz="$(getconf CLK_TCK)" -v p="$pid" \
    'BEGIN { t = e - s; printf "%7.1f msg/s %7.1f MB/s (%d in %.2f s)", n / t, n * b / t / 1e6, n, t; if (p != "") printf "  detach CPU %.2f ms/msg", c * 1000 / hz / n }'
}

# 64 MiB, or room for the attachment message when it is larger (its LF line ends go out as CRLF: 1/78 more).
max_message_bytes=$((64 * 1024 * 1024))
[ "$(stat -c %s "$work/large.eml")" -lt $((max_message_bytes * 9 / 10)) ] || max_message_bytes=$(($(stat -c %s "$work/large.eml") * 11 / 10))

# start_detach NAME [--set ...]: DLL (default this build's) picks the build, START_ENV adds environment variables.
start_detach() {
  local name="$1" port http dll="${DLL:-$publish/detach.dll}"
  shift
  port="$(free_port)"; http="$(free_port)"
  mkdir -p "$work/$name"
  env ${START_ENV:-} DOTNET_gcServer=0 dotnet "$dll" serve \
    --set "DataPath=$work/$name" --set "PublicUrl=http://127.0.0.1:$http" \
    --set "Gateway:Listen=http://127.0.0.1:$http" --set "Smtp:Listen=127.0.0.1:$port" \
    --set "Smtp:NextHop=smtp://127.0.0.1:$sink_port" --set "Smtp:MaxConnections=$((sessions * 2))" \
    --set "Smtp:MaxMessageBytes=$max_message_bytes" "$@" \
    > "$work/$name.log" 2>&1 &
  detach_pid=$!
  pids+=("$detach_pid")
  wait_port "$port"
  detach_port="$port"
}

stop_detach() { kill "$detach_pid"; wait "$detach_pid" 2>/dev/null || true; }

# A private clamd on a free port, with its own configuration and database; never the system one.
start_clamd() {
  local database="${CLAMD_DATABASE:-$work/clamd/db}"
  mkdir -p "$work/clamd/db"
  if [ -z "${CLAMD_DATABASE:-}" ]; then
    # The EICAR test signature as hex, from two halves so this script never holds the test file whole.
    local eicar_head='X5O!P%@AP[4\PZX54(P^)7CC)7}$' eicar_tail='EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
    printf 'Detach.Test.EICAR:0:*:%s\n' "$(printf '%s%s' "$eicar_head" "$eicar_tail" | od -An -tx1 | tr -d ' \n')" > "$work/clamd/db/detach-test.ndb"
  fi
  clamd_port="$(free_port)"
  cat > "$work/clamd/clamd.conf" <<CONF
Foreground yes
TCPSocket $clamd_port
TCPAddr 127.0.0.1
DatabaseDirectory $database
TemporaryDirectory $work/clamd
LogFile $work/clamd/clamd.log
StreamMaxLength 64M
MaxThreads $sessions
SelfCheck 0
CONF
  /usr/sbin/clamd --config-file="$work/clamd/clamd.conf" > "$work/clamd/out.log" 2>&1 &
  pids+=($!)
  # Loading a full database takes a while; clamd listens only once it is loaded.
  for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$clamd_port") 2>/dev/null && return 0; sleep 0.5; done
  echo "clamd did not start:" >&2; cat "$work/clamd/out.log" "$work/clamd/clamd.log" >&2; return 1
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2/1048576 }' /proc/meminfo); sessions $sessions"
echo "plain message $(stat -c %s "$work/plain.eml") bytes, attachment message $(stat -c %s "$work/large.eml") bytes"

# B as a percentage of A: each through-detach rate over the direct run just before it.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%3.0f %%", 100 * b / a }'; }

# Warm up the sink path once (page cache, smtp-source itself).
smtp-source -s 2 -m 20 -F "$work/plain.eml" "127.0.0.1:$sink_port"

if [ "$only" != large ]; then
start_detach plain
# JIT warm-up: tiered compilation of the per-connection and per-message paths goes on for several thousand
# messages (perf shows the ".NET Tiered Compilation" thread busy after 1000); measure the steady state.
smtp-source -s "$sessions" -m "$warmup" -F "$work/plain.eml" "127.0.0.1:$detach_port"
smtp-source -d -s "$sessions" -m "$warmup" -F "$work/plain.eml" "127.0.0.1:$detach_port"
# Direct and through-detach runs alternate, so that each pair sees the same load from the rest of the machine;
# the last column is detach's rate over the direct run just before it.
for flags in "" "-d"; do
  for i in $(seq 1 "$repeat"); do
    direct=$(drive "$sink_port" "$work/plain.eml" "$plain_messages" "" $flags)
    through=$(drive "$detach_port" "$work/plain.eml" "$plain_messages" "$detach_pid" $flags)
    echo "plain ${flags:-  } #$i  direct $direct"
    echo "plain ${flags:-  } #$i  detach $through  = $(ratio "${direct%% msg/s*}" "${through%% msg/s*}") of direct"
  done
done
echo "detach  plain peak RSS (VmHWM): $(hwm "$detach_pid")"
stop_detach
fi
[ "$only" != plain ] || exit 0

if [ -n "${COLD:-}" ]; then
  cold_env="${COLD_ENV:-DOTNET_TC_CallCountingDelayMs=0}"
  # One fresh detach per run: its whole life is one unbroken load, so the JIT never sees a quiet moment.
  cold_run() {
    if [ "$1" = with ]; then START_ENV="$cold_env" start_detach "cold-$1-$2"; else start_detach "cold-$1-$2"; fi
    echo "cold #$2 ${1/with/with $cold_env}: $(drive "$detach_port" "$work/large.eml" "$COLD" "$detach_pid")"
    stop_detach
  }
  for i in $(seq 1 "$repeat"); do
    if [ $((i % 2)) = 1 ]; then cold_run as-is "$i"; cold_run with "$i"; else cold_run with "$i"; cold_run as-is "$i"; fi
  done
  exit 0
fi

if [ "$scan" = 1 ]; then
  start_clamd
  echo "clamd: $(awk '/Loaded [0-9]+ signatures/ { print $(NF-1), "signatures" }' "$work/clamd/clamd.log" | tail -1) from ${CLAMD_DATABASE:-the EICAR-only test database}"
  start_detach large-scan --set "Scan:Clamd=tcp://127.0.0.1:$clamd_port"
  scan_pid="$detach_pid"; scan_port="$detach_port"
  smtp-source -s 2 -m 2 -F "$work/large.eml" "127.0.0.1:$scan_port"
fi

if [ -n "$baseline" ]; then
  baseline_sets=()
  for setting in ${BASELINE_SETTINGS:-}; do baseline_sets+=(--set "$setting"); done
  DLL="$baseline/detach.dll" start_detach large-baseline "${baseline_sets[@]}"
  base_pid="$detach_pid"; base_port="$detach_port"
  smtp-source -s "$sessions" -m "$large_warmup" -F "$work/large.eml" "127.0.0.1:$base_port"
fi

start_detach large
smtp-source -s "$sessions" -m "$large_warmup" -F "$work/large.eml" "127.0.0.1:$detach_port"
# With a baseline, every other round runs it first: the second detach of a round pays for the first one's files and
# page cache (measured: 0.5-1.0 ms more per 1 MiB message, whichever build runs second).
for i in $(seq 1 "$repeat"); do
  direct=$(drive "$sink_port" "$work/large.eml" "$large_messages")
  if [ -n "$baseline" ] && [ $((i % 2)) = 0 ]; then based=$(drive "$base_port" "$work/large.eml" "$large_messages" "$base_pid"); fi
  through=$(drive "$detach_port" "$work/large.eml" "$large_messages" "$detach_pid")
  echo "${attachment_mib} MiB #$i  direct $direct"
  echo "${attachment_mib} MiB #$i  detach $through  = $(ratio "${direct%% msg/s*}" "${through%% msg/s*}") of direct"
  if [ "$scan" = 1 ]; then
    scanned=$(drive "$scan_port" "$work/large.eml" "$large_messages" "$scan_pid")
    echo "${attachment_mib} MiB #$i  detach+scan $scanned  = $(ratio "${direct%% msg/s*}" "${scanned%% msg/s*}") of direct, $(ratio "${through%% msg/s*}" "${scanned%% msg/s*}") of detach unscanned"
  fi
  if [ -n "$baseline" ]; then
    [ $((i % 2)) = 0 ] || based=$(drive "$base_port" "$work/large.eml" "$large_messages" "$base_pid")
    echo "${attachment_mib} MiB #$i  baseline $based  = $(ratio "${direct%% msg/s*}" "${based%% msg/s*}") of direct ($([ $((i % 2)) = 0 ] && echo ran first || echo ran second))"
  fi
done
[ -z "$baseline" ] || echo "baseline ${attachment_mib} MiB peak RSS (VmHWM): $(hwm "$base_pid")"
echo "detach  ${attachment_mib} MiB peak RSS (VmHWM): $(hwm "$detach_pid")"
if [ "$scan" = 1 ]; then
  echo "detach+scan ${attachment_mib} MiB peak RSS (VmHWM): $(hwm "$scan_pid")"
  grep -c "Attachment .* contains" "$work/large-scan.log" | sed 's/^/detach+scan infected verdicts (expect 0): /' || true
fi
grep -c ": 1 attachment(s) detached" "$work/large.log" | sed 's/^/detach detached one attachment in messages: /'
stop_detach
