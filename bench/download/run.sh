#!/usr/bin/env bash
# Download throughput of the gateway (decrypt + stream over HTTP) with curl at 1 and 8 concurrent
# clients, and the server's resident memory while it serves.
# Usage: bench/download/run.sh [size MiB, default 100] [rounds, default 3] ["client counts", default "1 8"]
# Each round first asks the host for the format's own decrypt speed (store -> RecordDecryptor -> null, in
# process, one core) so that every download figure has a ceiling measured under the same machine load.
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE_MIB=${1:-100}
ROUNDS=${2:-3}
CLIENTS=${3:-1 8}
PORT=${PORT:-18080}
WORK=$(mktemp -d /tmp/detach-download-bench.XXXXXX)
SERVER=
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

dotnet build -c Release bench/download/DownloadHost -o "$WORK/bin" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
"$WORK/bin/DownloadHost" --data "$WORK/data" --size-mib "$SIZE_MIB" --port "$PORT" >"$WORK/host.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 900); do grep -q '^ready' "$WORK/host.log" 2>/dev/null && break; sleep 0.2; done
grep -q '^ready' "$WORK/host.log" || { cat "$WORK/host.log"; exit 1; }
CID=$(sed -n 's/^cid=\([^ ]*\) .*/\1/p' "$WORK/host.log")
KEY=$(sed -n 's/.* key=\([^ ]*\) .*/\1/p' "$WORK/host.log")
URL="http://127.0.0.1:$PORT/d/$CID/file"
BYTES=$((SIZE_MIB * 1024 * 1024))

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER/status"; }
# CPU time (user + system, in clock ticks) the server process has used so far: unlike wall time, it
# barely moves when other work shares the machine.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }
TICKS=$(getconf CLK_TCK)

# Peak RSS per round from the kernel's high-water mark (VmHWM), reset before each round through clear_refs:
# sampling /proc every 50 ms from a shell loop cost the measured transfer up to a tenth of a core.
reset_peak() { echo 5 > "/proc/$SERVER/clear_refs" 2>/dev/null || true; }
peak_kib() { awk '/^VmHWM/ {print $2}' "/proc/$SERVER/status"; }

# $1 = concurrent clients. Prints aggregate MB/s and server CPU per GB, each against a decrypt-only run
# (RecordDecryptor.DecryptRangeAsync in the server process, no HTTP) taken just before, and the peak RSS.
# A client's time is curl's own time_total (connect, request, transfer), not the fork and exec of curl itself.
run_clients() {
  local n=$1 peak c0 c1 c2 c3 ceiling slowest
  local times="$WORK/times-$n-$RANDOM"
  c0=$(cpu_ticks)
  ceiling=$(curl -sS --fail "http://127.0.0.1:$PORT/bench/decrypt")
  c1=$(cpu_ticks)
  reset_peak
  c2=$(cpu_ticks)
  local pids=()
  for i in $(seq 1 "$n"); do
    curl -sS --fail -o /dev/null -w '%{time_total}\n' -H "X-Detach-Key: $KEY" "$URL" >"$times.$i" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  c3=$(cpu_ticks)
  peak=$(peak_kib)
  slowest=$(cat "$times".* | sort -g | tail -n 1)
  awk -v b="$BYTES" -v n="$n" -v t="$slowest" -v p="$peak" -v c="$ceiling" -v hz="$TICKS" \
      -v dcpu="$((c1 - c0))" -v gcpu="$((c3 - c2))" 'BEGIN {
    rate = b * n / t / 1e6
    dsec = dcpu / hz; gsec = gcpu / hz
    printf "%d %.4f %.4f\n", n, 100 * rate / c, 100 * (dsec / b) / (gsec / (b * n)) >> "'"$WORK/ratios"'"
    printf "%d client(s): %4.0f MB/s (decrypt alone %4.0f MB/s, %3.0f%%) | server CPU %4.2f s/GB (decrypt alone %4.2f s/GB, %3.0f%%) | peak RSS %.0f MiB\n",
      n, rate, c, 100 * rate / c, gsec / (b * n / 1e9), dsec / (b / 1e9), 100 * (dsec / b) / (gsec / (b * n)), p / 1024 }'
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "file: $SIZE_MIB MiB; decrypt speed at startup (best of 3): $(sed -n 's/^decrypt_mb_s=//p' "$WORK/host.log") MB/s"
echo "server RSS before downloads: $(( $(rss_kib) / 1024 )) MiB"
# Warm-up: the per-request code is called once per download, so a few downloads leave it in the JIT's lower
# tiers and the JIT thread busy during the measurement (seen: 20-27 % of the server's samples). 500 small
# ranges bring it to its final tier (none compiled during 5 later downloads); two full downloads and ten
# decrypt-alone runs do the rest, so neither side of a round pays for the JIT.
for _ in $(seq 1 500); do curl -sS --fail -o /dev/null -H "X-Detach-Key: $KEY" -H "Range: bytes=0-99999" "$URL"; done
for _ in 1 2; do curl -sS --fail -o /dev/null -H "X-Detach-Key: $KEY" "$URL"; done
for _ in $(seq 1 10); do curl -sS --fail -o /dev/null "http://127.0.0.1:$PORT/bench/decrypt"; done
for n in $CLIENTS; do
  for _ in $(seq 1 "$ROUNDS"); do run_clients "$n"; done
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for n in $CLIENTS; do
  printf "median over rounds, %d client(s): throughput %.0f%% of decrypt alone, CPU efficiency %.0f%% of decrypt alone\n" "$n" \
    "$(awk -v n="$n" '$1 == n { print $2 }' "$WORK/ratios" | median)" "$(awk -v n="$n" '$1 == n { print $3 }' "$WORK/ratios" | median)"
done
echo "server RSS after downloads: $(( $(rss_kib) / 1024 )) MiB"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
