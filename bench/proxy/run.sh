#!/usr/bin/env bash
# SMTP proxy throughput: Postfix's smtp-source at 20 concurrent sessions, straight into smtp-sink
# (the baseline) and through `detach serve` into the same smtp-sink, for plain 5 KB mails and for
# mails carrying a 10 MiB attachment. Prints messages/s, MB/s (of message data sent by smtp-source)
# and detach's peak RSS (VmHWM) per scenario. No Postfix instance is needed, only its tools.
#
# Usage: bench/proxy/run.sh [--no-build]
#   SESSIONS (20), PLAIN_MESSAGES (20000), LARGE_MESSAGES (40), ATTACHMENT_MIB (10), REPEAT (3), WARMUP (6000)
#   override the load.
# Each measurement is repeated REPEAT times (the machine is shared: look at the spread, not one number).
# Needs: dotnet, smtp-source and smtp-sink (Debian package postfix), run as root or any user
# (smtp-sink drops to nobody when root).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
sessions="${SESSIONS:-20}"
plain_messages="${PLAIN_MESSAGES:-20000}"
repeat="${REPEAT:-3}"
large_messages="${LARGE_MESSAGES:-40}"
attachment_mib="${ATTACHMENT_MIB:-10}"
warmup="${WARMUP:-6000}"

need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || { echo "missing: $1 (apt-get install postfix)" >&2; exit 2; }; }
need smtp-source; need smtp-sink; need dotnet
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

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "nothing on port $1" >&2; return 1; }

# One message file per size (smtp-source -F sends it as header and body, dot-stuffing and adding CRLF).
make_plain() {
  {
    printf 'From: bench@client.test\nTo: alice@example.test\nSubject: plain bench mail\nMessage-ID: <plain@bench.test>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n'
    head -c 3800 /dev/urandom | base64 -w 76
  } > "$1"
}
make_large() {
  {
    printf 'From: bench@client.test\nTo: alice@example.test\nSubject: attachment bench mail\nMessage-ID: <large@bench.test>\nMIME-Version: 1.0\n'
    printf 'Content-Type: multipart/mixed; boundary="b-bench"\n\n--b-bench\nContent-Type: text/plain; charset=us-ascii\n\nSee the attachment.\n\n'
    printf -- '--b-bench\nContent-Type: application/octet-stream; name="data.bin"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename="data.bin"\n\n'
    head -c "$((attachment_mib * 1024 * 1024))" /dev/urandom | base64 -w 76
    printf -- '--b-bench--\n'
  } > "$1"
}
make_plain "$work/plain.eml"
make_large "$work/large.eml"

sink_port="$(free_port)"
smtp-sink -u nobody "127.0.0.1:$sink_port" 256 &
pids+=($!)
wait_port "$sink_port"

# CPU time (user + system, in clock ticks) a process used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

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

start_detach() {
  local name="$1" port http
  port="$(free_port)"; http="$(free_port)"
  mkdir -p "$work/$name"
  DOTNET_gcServer=0 dotnet "$publish/detach.dll" serve \
    --set "DataPath=$work/$name" --set "PublicUrl=http://127.0.0.1:$http" \
    --set "Gateway:Listen=http://127.0.0.1:$http" --set "Smtp:Listen=127.0.0.1:$port" \
    --set "Smtp:NextHop=smtp://127.0.0.1:$sink_port" --set "Smtp:MaxConnections=$((sessions * 2))" \
    --set "Smtp:MaxMessageBytes=$((64 * 1024 * 1024))" \
    > "$work/$name.log" 2>&1 &
  detach_pid=$!
  pids+=("$detach_pid")
  wait_port "$port"
  detach_port="$port"
}

stop_detach() { kill "$detach_pid"; wait "$detach_pid" 2>/dev/null || true; }

hwm() { awk '/VmHWM/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$1/status"; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2/1048576 }' /proc/meminfo); sessions $sessions"
echo "plain message $(stat -c %s "$work/plain.eml") bytes, attachment message $(stat -c %s "$work/large.eml") bytes"

# Warm up the sink path once (page cache, smtp-source itself).
smtp-source -s 2 -m 20 -F "$work/plain.eml" "127.0.0.1:$sink_port"

start_detach plain
# JIT warm-up: tiered compilation of the per-connection and per-message paths goes on for several thousand
# messages (perf shows the ".NET Tiered Compilation" thread busy after 1000); measure the steady state.
smtp-source -s "$sessions" -m "$warmup" -F "$work/plain.eml" "127.0.0.1:$detach_port"
smtp-source -d -s "$sessions" -m "$warmup" -F "$work/plain.eml" "127.0.0.1:$detach_port"
# Direct and through-detach runs alternate, so that each pair sees the same load from the rest of the machine;
# the last column is detach's rate over the direct run just before it.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%3.0f %%", 100 * b / a }'; }
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

start_detach large
smtp-source -s 2 -m 2 -F "$work/large.eml" "127.0.0.1:$detach_port"
for i in $(seq 1 "$repeat"); do
  direct=$(drive "$sink_port" "$work/large.eml" "$large_messages")
  through=$(drive "$detach_port" "$work/large.eml" "$large_messages" "$detach_pid")
  echo "${attachment_mib} MiB #$i  direct $direct"
  echo "${attachment_mib} MiB #$i  detach $through  = $(ratio "${direct%% msg/s*}" "${through%% msg/s*}") of direct"
done
echo "detach  ${attachment_mib} MiB peak RSS (VmHWM): $(hwm "$detach_pid")"
grep -c ": 1 attachment(s) detached" "$work/large.log" | sed 's/^/detach detached one attachment in messages: /'
stop_detach
