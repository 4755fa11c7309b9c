#!/usr/bin/env bash
# Download throughput of the gateway (decrypt + stream over HTTP) with curl at 1 and 8 concurrent
# clients, and the server's resident memory while it serves. Usage: bench/download/run.sh [size MiB]
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE_MIB=${1:-100}
PORT=${PORT:-18080}
WORK=$(mktemp -d /tmp/detach-download-bench.XXXXXX)
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT

dotnet build -c Release bench/download/DownloadHost -o "$WORK/bin" >/dev/null
"$WORK/bin/DownloadHost" --data "$WORK/data" --size-mib "$SIZE_MIB" --port "$PORT" >"$WORK/host.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 600); do grep -q '^ready' "$WORK/host.log" 2>/dev/null && break; sleep 0.2; done
grep -q '^ready' "$WORK/host.log" || { cat "$WORK/host.log"; exit 1; }
CID=$(sed -n 's/^cid=\([^ ]*\) .*/\1/p' "$WORK/host.log")
KEY=$(sed -n 's/.* key=\([^ ]*\) .*/\1/p' "$WORK/host.log")
DECRYPT=$(sed -n 's/^decrypt_mb_s=//p' "$WORK/host.log")
URL="http://127.0.0.1:$PORT/d/$CID/file"
BYTES=$((SIZE_MIB * 1024 * 1024))

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER/status"; }
sample_peak() { # samples the server's RSS every 100 ms until the file $1 appears; prints the peak in KiB
  local peak=0 now
  while [ ! -e "$1" ]; do now=$(rss_kib); [ "$now" -gt "$peak" ] && peak=$now; sleep 0.1; done
  echo "$peak"
}

run_clients() { # $1 = concurrent clients; prints aggregate MB/s and peak RSS MiB
  local n=$1 done="$WORK/done-$n" start end peak
  sample_peak "$done" >"$WORK/peak-$n" &
  local sampler=$!
  start=$(date +%s.%N)
  local pids=()
  for _ in $(seq 1 "$n"); do
    curl -sS --fail -o /dev/null -H "X-Detach-Key: $KEY" "$URL" &
    pids+=($!)
  done
  wait "${pids[@]}"
  end=$(date +%s.%N)
  touch "$done"; wait "$sampler"; peak=$(cat "$WORK/peak-$n")
  awk -v b="$BYTES" -v n="$n" -v s="$start" -v e="$end" -v p="$peak" \
    'BEGIN { printf "%d client(s): %.0f MB/s aggregate (%.2f s for %d x %d MiB), peak RSS %.0f MiB\n", n, b*n/(e-s)/1e6, e-s, n, b/1048576, p/1024 }'
}

echo "file: $SIZE_MIB MiB; format decrypt speed (store -> RecordDecryptor -> null, one core): $DECRYPT MB/s"
echo "server RSS before downloads: $(( $(rss_kib) / 1024 )) MiB"
curl -sS --fail -o /dev/null -H "X-Detach-Key: $KEY" "$URL" # warm-up (JIT)
for _ in 1 2 3; do run_clients 1; done
for _ in 1 2; do run_clients 8; done
echo "server RSS after downloads: $(( $(rss_kib) / 1024 )) MiB"
