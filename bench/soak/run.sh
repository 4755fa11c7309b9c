#!/usr/bin/env bash
# Soak run (issue 16, part 4): hours of mail through a real Postfix and `detach serve` (the documented before-queue
# proxy) into Maildirs, with downloads in parallel and the IPFS node (js-ipfs, ipfs/) killed and restarted now and
# then. Every SAMPLE seconds it records detach's RSS, open file descriptors, threads, spool, temporary files and
# index, the node's pins and repo size, and Postfix's queue. It FAILS (exit 1) when a message is lost, duplicated
# outside SMTP's acknowledgement window or delivered after a refusal, a download returns wrong bytes or fails for
# good, a live attachment is on neither the node nor the spool, or a resource grows without bound (least-squares
# slope over the second half of the run, after WARMUP; BENCHMARKS.md, "Soak", says exactly how). Writes soak.csv,
# events.csv, summary.txt, summary.json and soak.png (gnuplot) into OUT.
#
# Usage: bench/soak/run.sh [--no-build]
#   DURATION (1h)            how long mail is sent (then the run drains: at most DRAIN, 10m)
#   SAMPLE (60s)             between samples
#   NODE_SAMPLE_EVERY (5)    samples between two of the node's (repo gc, pins, repo size): its gc locks the repo
#   WARMUP (the larger of RETENTION + 2 x MAINTENANCE + 1m and DURATION/4): not analysed before this
#   PLAIN_PER_MIN (120), ATTACH_PER_MIN (30)   messages per minute: text only, and with 1..MAX_ATTACHMENTS (3)
#                            attachments of random bytes, sizes drawn from SIZES (8K,64K,256K,1M)
#   MAX_RECIPIENTS (3)       1..3 of alice, bob, carol per message (one delivered copy each)
#   SENDERS (4), DOWNLOADERS (4)   parallel SMTP clients and download clients (each link of each copy is fetched)
#   IPFS_RESTART_EVERY (10m), IPFS_DOWN (20s)  the node is SIGKILLed this often and stays down this long
#                            (Vault:WhenNodeDown=Spool: mail is accepted into the spool meanwhile, pushed later)
#   RETENTION (10m)          retention compressed: records older than this get expires_at = now, so detach's own
#                            maintenance erases their keys and unpins them and the store reaches a steady state
#   MAINTENANCE (60)         detach's Vault:MaintenanceIntervalSeconds
#   BOUNDS ("")              growth floors per hour to override, e.g. rss_mib=16,fds=10 (BENCHMARKS.md lists them)
#   OUT (artifacts/soak-<UTC time>)   where results go; KEEP=1 keeps the work folder (logs, Maildirs, repo) too
# Durations take s, m or h (90s, 10m, 1h) or plain seconds.
# A short check that the script works (about 12 minutes, drain included):
#   DURATION=8m SAMPLE=20 RETENTION=2m MAINTENANCE=20 IPFS_RESTART_EVERY=3m IPFS_DOWN=15s bench/soak/run.sh
# Needs root (a private Postfix: own config, queue and ports on 127.0.0.1; the system's Postfix is untouched),
# dotnet, Postfix, Node.js + npm (js-ipfs under ipfs/, installed with npm ci if missing), python3 and gnuplot
# (Debian gnuplot-nox, installed here if missing, or NO_PLOT=1 to skip the image).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
. "$here/../common.sh"

seconds() {
  case "$1" in
    *h) awk -v v="${1%h}" 'BEGIN { print v * 3600 }' ;;
    *m) awk -v v="${1%m}" 'BEGIN { print v * 60 }' ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}
duration="$(seconds "${DURATION:-1h}")"
sample="$(seconds "${SAMPLE:-60}")"
retention="$(seconds "${RETENTION:-10m}")"
maintenance="$(seconds "${MAINTENANCE:-60}")"
restart_every="$(seconds "${IPFS_RESTART_EVERY:-10m}")"
down="$(seconds "${IPFS_DOWN:-20s}")"
drain="$(seconds "${DRAIN:-10m}")"
warmup="$(seconds "${WARMUP:-$(awk -v r="$retention" -v m="$maintenance" -v d="$duration" 'BEGIN { w = r + 2 * m + 60; q = d / 4; print (w > q ? w : q) }')}")"
out="${OUT:-$root/artifacts/soak-$(date -u +%Y%m%dT%H%M%SZ)}"

PATH="$PATH:/usr/sbin:/sbin"
die() { echo "soak: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "run as root: a private Postfix instance needs it"
for tool in postfix postconf dotnet python3 node npm; do
  command -v "$tool" >/dev/null 2>&1 || die "missing: $tool (scripts/install-test-deps.sh installs Postfix, Node.js, python3; dotnet: the .NET 10 SDK)"
done
python3 -c 'import sys; sys.exit(sys.version_info < (3, 8))' || die "python3 3.8 or later is needed"
if [ "${NO_PLOT:-0}" != 1 ] && ! command -v gnuplot >/dev/null 2>&1; then
  echo "soak: installing gnuplot-nox for the plot (NO_PLOT=1 skips it)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null \
    || die "could not install gnuplot-nox; install it, or run with NO_PLOT=1"
fi
if [ ! -x "$root/ipfs/node_modules/.bin/jsipfs" ]; then
  (cd "$root/ipfs" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in ipfs/ failed"
fi

publish="$root/artifacts/soak-bin"
if [ "${1:-}" != "--no-build" ] || [ ! -f "$publish/detach.dll" ]; then
  dotnet build -c Release -o "$publish" "$root/src/Gateway/Detach.Gateway.csproj" -v quiet -nologo >/dev/null
fi

mkdir -p "$out"
work="$(mktemp -d /tmp/detach-soak.XXXXXX)"
chmod 755 "$work"
etc="$work/etc"
detach_pid=""
postfix_started=""
cleanup() {
  [ -n "$postfix_started" ] && postfix -c "$etc" stop >/dev/null 2>&1 || true
  [ -n "$detach_pid" ] && kill "$detach_pid" 2>/dev/null || true
  if [ -f "$work/ipfs/daemon.pid" ]; then kill -9 -- "-$(cat "$work/ipfs/daemon.pid")" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  [ -f "$work/detach.log" ] && tail -n 2000 "$work/detach.log" > "$out/detach-log-tail.txt" || true
  [ -f "$work/postfix.log" ] && grep -E 'warning|error|fatal|panic|reject' "$work/postfix.log" | tail -n 500 > "$out/postfix-problems.txt" || true
  if [ "${KEEP:-0}" = 1 ]; then echo "soak: work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Replaces the {{NAME}} placeholders of a committed fragment: render FILE NAME=value...
render() {
  local file="$1" text; shift
  text="$(cat "$file")"
  for pair in "$@"; do text="${text//"{{${pair%%=*}}}"/${pair#*=}}"; done
  printf '%s\n' "$text"
}

ipfs_port="$(free_port)"; http_port="$(free_port)"; filter_port="$(free_port)"; inbound_port="$(free_port)"; reinject_port="$(free_port)"

# ---- the IPFS node ----------------------------------------------------------------------------------------
bash "$root/ipfs/start-test-node.sh" "$work/ipfs" "$ipfs_port" >/dev/null

# ---- detach -----------------------------------------------------------------------------------------------
mkdir -p "$work/detach"
DOTNET_gcServer=0 dotnet "$publish/detach.dll" serve \
  --set "DataPath=$work/detach" --set "PublicUrl=http://127.0.0.1:$http_port" --set "Gateway:Listen=http://127.0.0.1:$http_port" \
  --set "Smtp:Listen=127.0.0.1:$filter_port" --set "Smtp:NextHop=smtp://127.0.0.1:$reinject_port" \
  --set "Vault:IpfsApiUrl=http://127.0.0.1:$ipfs_port" --set "Vault:WhenNodeDown=Spool" --set "Vault:IpfsTimeoutSeconds=10" \
  --set "Vault:MaintenanceIntervalSeconds=$maintenance" > "$work/detach.log" 2>&1 &
detach_pid=$!
wait_port "$filter_port" 60 || die "nothing listens on port $filter_port"

# ---- Postfix: the documented before-queue proxy, delivering example.test into Maildirs --------------------------
mkdir -p "$etc" "$work/queue" "$work/data" "$work/mail"
chown postfix "$work/data"
chown 65534:65534 "$work/mail"
printf '%s\n' alice bob carol postmaster | sed 's/.*/&@example.test &\//' > "$etc/vmailbox"
cat > "$etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $work/queue
data_directory = $work/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.test
mydomain = example.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
biff = no
default_transport = error:5.7.1 soak instance delivers example.test only
relay_transport = error:5.7.1 soak instance delivers example.test only
virtual_mailbox_domains = example.test
virtual_mailbox_base = $work/mail
virtual_mailbox_maps = texthash:$etc/vmailbox
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
maillog_file = $work/postfix.log
maillog_file_prefixes = $work
EOF
render "$root/deploy/postfix/main.cf.fragment" "MESSAGE_SIZE_LIMIT=$((64 * 1024 * 1024))" >> "$etc/main.cf"
cp "$root/bench/postfix-internal.master.cf" "$etc/master.cf"
render "$root/deploy/postfix/master.cf.fragment" "INBOUND=127.0.0.1:$inbound_port" "FILTER_PORT=$filter_port" \
  "REINJECT_PORT=$reinject_port" "PROXY_TIMEOUT=100s" >> "$etc/master.cf"
postfix -c "$etc" check >/dev/null
postfix -c "$etc" start >/dev/null
postfix_started=1
wait_port "$inbound_port" 60 || die "nothing listens on port $inbound_port"; wait_port "$reinject_port" 60 || die "nothing listens on port $reinject_port"

echo "soak: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); results in $out"
echo "soak: duration ${duration}s, samples every ${sample}s, warm-up ${warmup}s, node killed every ${restart_every}s for ${down}s, retention ${retention}s"
status=0
python3 "$here/soak.py" \
  --smtp-port "$inbound_port" --gateway "http://127.0.0.1:$http_port" \
  --ipfs-api "http://127.0.0.1:$ipfs_port" --ipfs-repo "$work/ipfs" --ipfs-port "$ipfs_port" --ipfs-script "$root/ipfs/start-test-node.sh" \
  --detach-pid "$detach_pid" --data-path "$work/detach" --maildir-base "$work/mail" --postfix-queue "$work/queue" \
  --out "$out" --duration "$duration" --sample "$sample" --node-sample-every "${NODE_SAMPLE_EVERY:-5}" --warmup "$warmup" \
  --plain-per-min "${PLAIN_PER_MIN:-120}" --attach-per-min "${ATTACH_PER_MIN:-30}" --sizes "${SIZES:-8K,64K,256K,1M}" \
  --max-attachments "${MAX_ATTACHMENTS:-3}" --max-recipients "${MAX_RECIPIENTS:-3}" \
  --senders "${SENDERS:-4}" --downloaders "${DOWNLOADERS:-4}" \
  --restart-every "$restart_every" --down "$down" --retention "$retention" --maintenance "$maintenance" --drain "$drain" \
  --bounds "${BOUNDS:-}" \
  || status=$?

if [ "${NO_PLOT:-0}" != 1 ] && [ -f "$out/plot.gp" ]; then
  (cd "$out" && gnuplot plot.gp) && echo "soak: plot $out/soak.png" || echo "soak: gnuplot failed; the data is in $out/soak.csv" >&2
fi
exit "$status"
