#!/usr/bin/env bash
# Postfix-based load driver (issues 13 and 17): the same mail through one private Postfix three ways, in
# interleaved rounds: plain Postfix, Postfix + detach as milter (deploy/postfix/milter.cf.fragment), and Postfix +
# detach as before-queue proxy (deploy/postfix/*.cf.fragment, the documented setup). smtp-source (SESSIONS
# concurrent sessions) -> Postfix -> smtp-sink; a run ends when Postfix's queue is empty again, so the rate
# counts delivery, not just acceptance. For each round and mail size it prints messages/s, the ratio to plain
# Postfix in that round, detach's CPU per message (from /proc/<pid>/stat) and the whole machine's CPU per message
# (from /proc/stat); at the end each detach's peak RSS (VmHWM) and how many attachments it detached.
#
# Usage: bench/postfix/run.sh [--no-build]
#   SESSIONS (20), PLAIN_MESSAGES (5000), LARGE_MESSAGES (400), ATTACHMENT_MIB (1), ROUNDS (3), WARMUP (3000),
#   REUSE (0; 1 sends several messages per SMTP connection, smtp-source -d) override the load.
#   PERF_DIR=/some/dir records each measured run machine-wide with perf (cpu-clock, call graphs) into
#   PERF_DIR/<round>-<mail>-<path>.data, with .NET's perf maps on, to account for every process's share:
#   perf report -i FILE --sort comm,dso --no-children.
#   PATHS ("milter proxy") picks the detach paths measured against plain Postfix; "stream" is the proxy without
#   smtpd_proxy_options=speed_adjust (the same detach process; Postfix streams the client's bytes to it);
#   "unix" is the milter on a unix socket (a third detach process, Milter:Listen=unix:...).
#   LARGE_WARMUP (100) attachment messages per path before the rounds. MAILS ("plain large") picks the mail measured.
#   SETTLE (0) seconds of rest (after a sync) before each measured run: ext4 skips the inodes freed in the last minute
#   when it allocates (its "recently deleted" rule; 5 minutes while their inode-table block is dirty), so the
#   thousands of queue files the previous run deleted slow the next run's Postfix. 61 takes that out.
#   BASELINE=<folder holding another build's detach.dll> adds the path "base": the milter of that build, so that a
#   change is measured against the build before it in the same run (PATHS="milter base").
#   "null" is a milter that does nothing (bench/postfix/null-milter.c, built with cc): what any milter costs Postfix,
#   the floor under detach's milter (PATHS="milter null"). "relay" is the documented proxy setup in front of a filter
#   that only passes bytes between the two smtpd (bench/postfix/null-proxy.c): the floor under detach's proxy.
# A check that the driver works: PLAIN_MESSAGES=200 LARGE_MESSAGES=40 ROUNDS=1 WARMUP=200 bench/postfix/run.sh
# Needs root (a private Postfix instance: its own config, queue and ports on 127.0.0.1; the system's Postfix is
# not touched), dotnet, and the Debian package postfix (postfix, postconf, smtp-source, smtp-sink).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
. "$here/../common.sh"
sessions="${SESSIONS:-20}"
plain_messages="${PLAIN_MESSAGES:-5000}"
large_messages="${LARGE_MESSAGES:-400}"
attachment_mib="${ATTACHMENT_MIB:-1}"
rounds="${ROUNDS:-3}"
warmup="${WARMUP:-3000}"
large_warmup="${LARGE_WARMUP:-100}"
paths="${PATHS:-milter proxy}"
mails="${MAILS:-plain large}"
reuse=""
[ "${REUSE:-0}" = 1 ] && reuse="-d"

PATH="$PATH:/usr/sbin:/sbin"
need() { command -v "$1" >/dev/null 2>&1 || { echo "missing: $1 (apt-get install postfix)" >&2; exit 2; }; }
need postfix; need postconf; need smtp-source; need smtp-sink; need dotnet
[ "$(id -u)" = 0 ] || { echo "run as root: a private Postfix instance needs it" >&2; exit 2; }

publish="$root/artifacts/bench-postfix"
if [ "${1:-}" != "--no-build" ] || [ ! -f "$publish/detach.dll" ]; then
  dotnet build -c Release -o "$publish" "$root/src/Gateway/Detach.Gateway.csproj" -v quiet -nologo >/dev/null
fi

work="$(mktemp -d /tmp/detach-bench-postfix.XXXXXX)"
chmod 755 "$work"
etc="$work/etc"
pids=()
postfix_started=""
cleanup() {
  [ -n "$postfix_started" ] && postfix -c "$etc" stop >/dev/null 2>&1 || true
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

# Replaces {{NAME}} placeholders of a committed fragment: render FILE NAME=value...
render() {
  local file="$1" text; shift
  text="$(cat "$file")"
  for pair in "$@"; do text="${text//"{{${pair%%=*}}}"/${pair#*=}}"; done
  printf '%s\n' "$text"
}

sink_port="$(free_port)"; plain_port="$(free_port)"; milter_in="$(free_port)"; proxy_in="$(free_port)"
stream_in="$(free_port)"; unix_in="$(free_port)"; base_in="$(free_port)"; base_port="$(free_port)"
null_in="$(free_port)"; null_port="$(free_port)"; relay_in="$(free_port)"; relay_port="$(free_port)"
reinject_port="$(free_port)"; milter_port="$(free_port)"; proxy_port="$(free_port)"

# Started first, so that Postfix never meets a milter that is not there yet.
# ---- two detach processes: one milter, one proxy ----------------------------------------------------------
start_detach() {
  local name="$1" dll="$publish/detach.dll" http; shift
  [ "$name" = base ] && dll="$BASELINE/detach.dll"
  http="$(free_port)"
  mkdir -p "$work/$name"
  # With PERF_DIR, perf maps name the JIT-compiled frames; W^X off so that perf sees the code where the map says.
  local perf_env=()
  [ -n "${PERF_DIR:-}" ] && perf_env=(DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0)
  env DOTNET_gcServer=0 "${perf_env[@]}" dotnet "$dll" serve \
    --set "DataPath=$work/$name" --set "PublicUrl=http://127.0.0.1:$http" --set "Gateway:Listen=http://127.0.0.1:$http" \
    --set "Smtp:MaxConnections=$((sessions * 2))" --set "Milter:MaxConnections=$((sessions * 2))" \
    --set "Smtp:MaxMessageBytes=$((64 * 1024 * 1024))" "$@" > "$work/$name.log" 2>&1 &
  detach_pid=$!
  pids+=("$detach_pid")
}
start_detach milter --set "Smtp:Listen=" --set "Milter:Listen=inet:127.0.0.1:$milter_port"
milter_pid="$detach_pid"
start_detach proxy --set "Smtp:Listen=127.0.0.1:$proxy_port" --set "Smtp:NextHop=smtp://127.0.0.1:$reinject_port"
proxy_pid="$detach_pid"
start_detach milter-unix --set "Smtp:Listen=" --set "Milter:Listen=unix:$work/milter.sock"
unix_pid="$detach_pid"
base_pid=""
if [ -n "${BASELINE:-}" ]; then
  start_detach base --set "Smtp:Listen=" --set "Milter:Listen=inet:127.0.0.1:$base_port"
  base_pid="$detach_pid"
  wait_port "$base_port" 20
fi
# start_floor NAME PORT [ARG...]: builds bench/postfix/NAME.c, a filter that does nothing, and starts it listening on
# PORT; its pid in floor_pid.
start_floor() {
  local name="$1"
  cc -O2 -pthread -o "$work/$name" "$here/$name.c"
  shift
  "$work/$name" "$@" &
  floor_pid=$!
  pids+=("$floor_pid")
  wait_port "$1" 20
}
null_pid=""; relay_pid=""
case " $paths " in *" null "*) start_floor null-milter "$null_port"; null_pid="$floor_pid" ;; esac
case " $paths " in *" relay "*) start_floor null-proxy "$relay_port" "$reinject_port"; relay_pid="$floor_pid" ;; esac
wait_port "$milter_port" 20; wait_port "$proxy_port" 20
for _ in $(seq 1 400); do [ -S "$work/milter.sock" ] && break; sleep 0.05; done
chmod 666 "$work/milter.sock" # Postfix's smtpd runs as postfix; detach runs as root here

# ---- the sink and the Postfix instance --------------------------------------------------------------------
smtp-sink -u nobody "127.0.0.1:$sink_port" 256 &
pids+=($!)
wait_port "$sink_port" 20

mkdir -p "$etc" "$work/queue" "$work/data"
chown postfix "$work/data"
cat > "$etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $work/queue
data_directory = $work/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
biff = no
# Everything goes to the sink.
default_transport = smtp:[127.0.0.1]:$sink_port
relay_transport = smtp:[127.0.0.1]:$sink_port
maillog_file = $work/postfix.log
maillog_file_prefixes = $work
EOF
render "$root/deploy/postfix/main.cf.fragment" "MESSAGE_SIZE_LIMIT=$((64 * 1024 * 1024))" >> "$etc/main.cf"
# The milter fragment, applied to one smtpd service only (as -o options), so the three paths share one queue.
milter_options="$(render "$root/deploy/postfix/milter.cf.fragment" "MILTER=inet:127.0.0.1:$milter_port" \
  | grep -v '^#' | grep -v '^non_smtpd_milters' | sed -n 's/^\([a-z_]*\) = \(.*\)$/  -o \1=\2/p')"
cp "$root/bench/postfix-internal.master.cf" "$etc/master.cf"
cat >> "$etc/master.cf" <<EOF
# Plain Postfix.
127.0.0.1:$plain_port inet n - n - $sessions smtpd
# Postfix + detach as milter.
127.0.0.1:$milter_in inet n - n - $sessions smtpd
$milter_options
# The same over a unix socket.
127.0.0.1:$unix_in inet n - n - $sessions smtpd
${milter_options//inet:127.0.0.1:$milter_port/unix:$work/milter.sock}
# The baseline build's milter (BASELINE).
127.0.0.1:$base_in inet n - n - $sessions smtpd
${milter_options//inet:127.0.0.1:$milter_port/inet:127.0.0.1:$base_port}
# The milter that does nothing (PATHS with "null").
127.0.0.1:$null_in inet n - n - $sessions smtpd
${milter_options//inet:127.0.0.1:$milter_port/inet:127.0.0.1:$null_port}
EOF
render "$root/deploy/postfix/master.cf.fragment" "INBOUND=127.0.0.1:$proxy_in" "FILTER_PORT=$proxy_port" \
  "REINJECT_PORT=$reinject_port" "PROXY_TIMEOUT=100s" \
  | sed "s/inet  n       -       n       -       20      smtpd/inet  n       -       n       -       $sessions      smtpd/" >> "$etc/master.cf"
# The documented before-filter smtpd in front of the byte relay (PATHS with "relay").
render "$root/deploy/postfix/master.cf.fragment" "INBOUND=127.0.0.1:$relay_in" "FILTER_PORT=$relay_port" "PROXY_TIMEOUT=100s" \
  | sed '/^# After-filter/,$d' | grep -v '^#' \
  | sed "s/inet  n       -       n       -       20      smtpd/inet  n       -       n       -       $sessions      smtpd/" >> "$etc/master.cf"
# The proxy without speed_adjust: Postfix hands the client's bytes to detach as they come.
cat >> "$etc/master.cf" <<EOF
127.0.0.1:$stream_in inet n - n - $sessions smtpd
  -o smtpd_proxy_filter=127.0.0.1:$proxy_port
  -o smtpd_proxy_timeout=100s
EOF
postfix -c "$etc" check >/dev/null
postfix -c "$etc" start >/dev/null
postfix_started=1
for port in "$plain_port" "$milter_in" "$unix_in" "$base_in" "$null_in" "$relay_in" "$proxy_in" "$stream_in" "$reinject_port"; do wait_port "$port" 20; done

# ---- mail ------------------------------------------------------------------------------------------------
make_plain "$work/plain.eml"
make_large "$work/large.eml" "$attachment_mib"

queued() { find "$work/queue/incoming" "$work/queue/active" "$work/queue/deferred" "$work/queue/maildrop" -type f 2>/dev/null | wc -l; }
wait_empty() { while [ "$(queued)" -gt 0 ]; do sleep 0.05; done; }
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

# drive PORT FILE COUNT [PID [PROFILE]]: sends COUNT messages, waits until Postfix delivered them all; prints
# "rate machine-ms/msg [detach-ms/msg]". With PERF_DIR set, records the run into PERF_DIR/PROFILE.data.
drive() {
  local port="$1" file="$2" count="$3" pid="${4:-}" profile="${5:-}" start end before=0 after=0 busy_before busy_after perf_pid=""
  if [ "${SETTLE:-0}" -gt 0 ]; then sync; sleep "$SETTLE"; fi
  if [ -n "${PERF_DIR:-}" ] && [ -n "$profile" ]; then
    perf record -a -g -F 999 -e cpu-clock -o "$PERF_DIR/$profile.data" >/dev/null 2>&1 &
    perf_pid=$!
    sleep 1
  fi
  [ -n "$pid" ] && before="$(cpu_ticks "$pid")"
  busy_before="$(busy_ticks)"
  start="$(date +%s.%N)"
  smtp-source $reuse -s "$sessions" -m "$count" -f bench@client.test -t alice@example.test -M client.example.test -F "$file" "127.0.0.1:$port"
  wait_empty
  end="$(date +%s.%N)"
  busy_after="$(busy_ticks)"
  [ -n "$pid" ] && after="$(cpu_ticks "$pid")"
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; fi
  awk -v n="$count" -v s="$start" -v e="$end" -v b="$((busy_after - busy_before))" -v c="$((after - before))" -v p="$pid" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.1f %.2f", n / (e - s), b * 1000 / hz / n; if (p != "") printf " %.2f", c * 1000 / hz / n }'
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2/1048576 }' /proc/meminfo); sessions $sessions${reuse:+, connections reused}"
echo "plain message $(stat -c %s "$work/plain.eml") bytes, attachment message $(stat -c %s "$work/large.eml") bytes"

# Warm-up: JIT tiering of the per-connection and per-message paths goes on for thousands of messages.
warm_ports=("$milter_in" "$unix_in" "$proxy_in" "$stream_in" "$plain_port")
[ -n "$base_pid" ] && warm_ports+=("$base_in")
[ -n "$null_pid" ] && warm_ports+=("$null_in")
[ -n "$relay_pid" ] && warm_ports+=("$relay_in")
for port in "${warm_ports[@]}"; do
  smtp-source -s "$sessions" -m "$warmup" -F "$work/plain.eml" "127.0.0.1:$port"
  smtp-source -s "$sessions" -m "$large_warmup" -F "$work/large.eml" "127.0.0.1:$port"
done
wait_empty
log_start="$(wc -l < "$work/postfix.log")"

# Each round runs the paths in a different order (rotated by one per round), because a run leaves the machine in a
# state the next one pays for: on ext4 a new file's inode is searched past the ones deleted in the last seconds, so
# the Postfix queue files of one run make the next run's cleanup slower (perf: up to 0.9 against 0.5 ms per message).
# Rows are printed in a fixed order; ratios are to plain Postfix in the same round.
order=(postfix $paths)
printf '%-8s %-6s %-7s %10s %8s %14s %14s  %s\n' round mail path msg/s ratio "machine ms/msg" "detach ms/msg" "ran as"
for round in $(seq 1 "$rounds"); do
  for kind in $mails; do
    if [ "$kind" = plain ]; then file="$work/plain.eml"; count="$plain_messages"; label="5 KB"; else file="$work/large.eml"; count="$large_messages"; label="${attachment_mib} MiB"; fi
    declare -A result=() position=()
    for ((i = 0; i < ${#order[@]}; i++)); do
      path="${order[(i + round - 1) % ${#order[@]}]}"
      case "$path" in
        postfix) port="$plain_port"; pid="" ;;
        milter) port="$milter_in"; pid="$milter_pid" ;;
        proxy) port="$proxy_in"; pid="$proxy_pid" ;;
        stream) port="$stream_in"; pid="$proxy_pid" ;;
        unix) port="$unix_in"; pid="$unix_pid" ;;
        base) [ -n "$base_pid" ] || { echo "path base needs BASELINE" >&2; exit 2; }; port="$base_in"; pid="$base_pid" ;;
        null) port="$null_in"; pid="$null_pid" ;;
        relay) port="$relay_in"; pid="$relay_pid" ;;
        *) echo "unknown path $path" >&2; exit 2 ;;
      esac
      result[$path]="$(drive "$port" "$file" "$count" "$pid" "$round-$kind-$path")"
      position[$path]=$((i + 1))
    done
    read -r base_rate base_cpu <<< "${result[postfix]}"
    printf '%-8s %-6s %-7s %10.1f %8s %14.2f %14s  %s\n' "#$round" "$label" postfix "$base_rate" "1.00" "$base_cpu" "-" "${position[postfix]}."
    for path in $paths; do
      read -r rate cpu detach_cpu <<< "${result[$path]}"
      printf '%-8s %-6s %-7s %10.1f %8.2f %14.2f %14.2f  %s\n' "#$round" "$label" "$path" "$rate" "$(awk -v a="$rate" -v b="$base_rate" 'BEGIN { print a / b }')" "$cpu" "$detach_cpu" "${position[$path]}."
    done
  done
done

echo "detach milter peak RSS (VmHWM): $(hwm "$milter_pid"), attachments detached: $(grep -c ': 1 attachment(s) detached' "$work/milter.log" || true)"
echo "detach proxy  peak RSS (VmHWM): $(hwm "$proxy_pid"), attachments detached: $(grep -c ': 1 attachment(s) detached' "$work/proxy.log" || true)"
case " $paths " in *" unix "*) echo "detach milter on a unix socket peak RSS (VmHWM): $(hwm "$unix_pid"), attachments detached: $(grep -c ': 1 attachment(s) detached' "$work/milter-unix.log" || true)" ;; esac
[ -n "$base_pid" ] && echo "detach milter of $BASELINE peak RSS (VmHWM): $(hwm "$base_pid"), attachments detached: $(grep -c ': 1 attachment(s) detached' "$work/base.log" || true)"
deferred="$(find "$work/queue/deferred" -type f | wc -l)"
rejected="$(tail -n "+$((log_start + 1))" "$work/postfix.log" | grep -c 'milter-reject\|proxy-reject' || true)"
echo "Postfix during the rounds: $rejected refused by a filter, $deferred deferred"
