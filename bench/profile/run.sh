#!/usr/bin/env bash
# Where detach's CPU goes, per message: a warm detach fed attachment mail by Postfix's smtp-source (20 sessions,
# into smtp-sink), recorded with perf for a few seconds, its samples grouped by library and, in the kernel, by the
# system call (or the network's softirq work) they were taken in; each group's share is turned into milliseconds of
# detach's CPU per message. BENCHMARKS.md ("every millisecond of a 1 MiB message") has a run of it.
#
# Usage: bench/profile/run.sh [--no-build]
#   ATTACHMENT_MIB (1), SESSIONS (20), WARMUP (1500) messages before recording, MESSAGES (2000) sent while it records
#   for SECONDS_RECORDED (6) of them, from a second after they start (the CPU per message counts all of them).
#   OUT (a temporary folder) keeps perf.data, the perf map and the breakdown.
#   Other detach settings reach it as environment variables (e.g. DETACH__TotalMessageMemoryBytes=0), runtime ones too
#   (e.g. DOTNET_TieredPGO=0).
# Needs: perf (linux-perf), smtp-source and smtp-sink (postfix), python3, dotnet. Run as root (perf on another process).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
. "$here/../common.sh"
mib="${ATTACHMENT_MIB:-1}"
sessions="${SESSIONS:-20}"
warmup="${WARMUP:-1500}"
messages="${MESSAGES:-2000}"
seconds="${SECONDS_RECORDED:-6}"
PATH="$PATH:/usr/sbin"
for tool in perf smtp-source smtp-sink python3 dotnet; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done

publish="$root/artifacts/bench-profile"
if [ "${1:-}" != "--no-build" ] || [ ! -f "$publish/detach.dll" ]; then
  dotnet build -c Release -o "$publish" "$root/src/Gateway/Detach.Gateway.csproj" -v quiet -nologo >/dev/null
fi

out="${OUT:-$(mktemp -d /tmp/detach-profile.XXXXXX)}"
mkdir -p "$out"
chmod 755 "$out"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

make_large "$out/mail.eml" "$mib"
sink_port="$(free_port)"; port="$(free_port)"; http="$(free_port)"
smtp-sink -u nobody "127.0.0.1:$sink_port" 256 &
pids+=($!)
wait_port "$sink_port"

# Perf maps name the JIT's code; without W^X its pages are the ones perf sees executing.
rm -rf "$out/data"
DOTNET_gcServer=0 DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 dotnet "$publish/detach.dll" serve \
  --set "DataPath=$out/data" --set "PublicUrl=http://127.0.0.1:$http" --set "Gateway:Listen=http://127.0.0.1:$http" \
  --set "Smtp:Listen=127.0.0.1:$port" --set "Smtp:NextHop=smtp://127.0.0.1:$sink_port" \
  --set "Smtp:MaxConnections=$((sessions * 2))" --set "Smtp:MaxMessageBytes=$(( (mib + 8) * 2 * 1024 * 1024 ))" \
  > "$out/detach.log" 2>&1 &
detach_pid=$!
pids+=("$detach_pid")
wait_port "$port"

send() { smtp-source -s "$sessions" -m "$1" -f bench@client.test -t alice@example.test -M client.example.test -F "$out/mail.eml" "127.0.0.1:$port"; }

send "$warmup"
sleep 2
before="$(cpu_ticks "$detach_pid")"
send "$messages" &
load=$!
sleep 1
perf record -F 999 -g -p "$detach_pid" -o "$out/perf.data" -- sleep "$seconds" >/dev/null 2>&1
wait "$load"
after="$(cpu_ticks "$detach_pid")"
per_message="$(awk -v a="$before" -v b="$after" -v n="$messages" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) * 1000 / hz / n }')"
cp "/tmp/perf-$detach_pid.map" "$out/" 2>/dev/null || true
echo "detach CPU per message: $per_message ms ($messages messages, ${mib} MiB attachment, $sessions sessions); peak RSS $(hwm "$detach_pid")"
perf script -i "$out/perf.data" -F ip,sym,dso 2>/dev/null > "$out/stacks.txt"
python3 "$here/breakdown.py" "$out/stacks.txt" "$per_message" | tee "$out/breakdown.txt"
echo "kept in $out"
