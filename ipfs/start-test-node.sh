#!/usr/bin/env bash
# Starts a private, offline js-ipfs node for Detach's tests: it serves the same /api/v0 RPC API as
# Kubo. Usage: start-test-node.sh <repo-dir> <api-port>
# Prints "READY <api-url>" on stdout once /api/v0/id answers, and writes <repo-dir>/daemon.pid.
# The node keeps running in the background (its output goes to <repo-dir>/daemon.log); stop it by
# killing the pid in that file. Run `npm ci` in this folder first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="${1:?usage: start-test-node.sh <repo-dir> <api-port>}"
port="${2:?usage: start-test-node.sh <repo-dir> <api-port>}"
jsipfs="$here/node_modules/.bin/jsipfs"
[ -x "$jsipfs" ] || { echo "js-ipfs is not installed: run 'npm ci' in $here" >&2; exit 2; }

mkdir -p "$repo"
repo="$(cd "$repo" && pwd)"
export IPFS_PATH="$repo"
# Keeps js-ipfs from phoning home (preload nodes) and from writing to ~/.jsipfs.
export IPFS_MONITORING=0

if [ ! -f "$repo/config" ]; then
  sed "s/@API_PORT@/$port/" "$here/test-node-config.template.json" > "$repo/init-config.json"
  "$jsipfs" init --empty-repo "$repo/init-config.json" > "$repo/init.log" 2>&1 \
    || { cat "$repo/init.log" >&2; exit 1; }
fi

# A node killed with SIGKILL (the tests do that) leaves its repo lock behind; it is stale once
# the pid that took it is gone (or a zombie nobody reaped yet).
alive() {
  local state=""
  [ -r "/proc/$1/stat" ] || { kill -0 "$1" 2>/dev/null; return; }
  read -r _ _ state _ < "/proc/$1/stat" 2>/dev/null || return 1
  [ "$state" != "Z" ]
}
if [ -f "$repo/daemon.pid" ] && ! alive "$(cat "$repo/daemon.pid")"; then
  rm -rf "$repo/repo.lock"
fi

# setsid: the node gets its own process group, so a test can kill the whole tree at once.
setsid "$jsipfs" daemon --offline --enable-preload=false > "$repo/daemon.log" 2>&1 < /dev/null &
pid=$!
echo "$pid" > "$repo/daemon.pid"

url="http://127.0.0.1:$port"
status=0
node "$here/wait-ready.mjs" "$url" "$pid" || status=$?
case $status in
  0) echo "READY $url pid=$pid" ;;
  3) echo "js-ipfs exited during startup:" >&2; cat "$repo/daemon.log" >&2; exit 1 ;;
  *) echo "js-ipfs did not answer on $url within 60 s" >&2; cat "$repo/daemon.log" >&2; exit 1 ;;
esac
