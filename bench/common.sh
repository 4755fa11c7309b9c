# What the benchmark drivers share; each one sources it: . "$here/../common.sh"

# A TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits until something accepts on 127.0.0.1:PORT, for up to SECONDS (10); false, with a line on stderr, if nothing does.
wait_port() {
  local port="$1" tries=$(( ${2:-10} * 20 ))
  for _ in $(seq 1 "$tries"); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0; sleep 0.05; done
  echo "nothing on port $port" >&2
  return 1
}

# CPU time (user + system, in clock ticks) process PID has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Process PID's peak RSS (VmHWM), e.g. "152 MiB".
hwm() { awk '/VmHWM/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$1/status"; }

# The drivers' mail, as smtp-source -F sends it (header and body; it dot-stuffs and turns LF into CRLF).
# make_plain FILE: a text mail of about 5 KB.
make_plain() {
  {
    printf 'From: bench@client.test\nTo: alice@example.test\nSubject: plain bench mail\nMessage-ID: <plain@bench.test>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n'
    head -c 3800 /dev/urandom | base64 -w 76
  } > "$1"
}

# make_large FILE MIB: a text part and one attachment of MIB MiB of random bytes, base64 in 76-character lines.
make_large() {
  {
    printf 'From: bench@client.test\nTo: alice@example.test\nSubject: attachment bench mail\nMessage-ID: <large@bench.test>\nMIME-Version: 1.0\n'
    printf 'Content-Type: multipart/mixed; boundary="b-bench"\n\n--b-bench\nContent-Type: text/plain; charset=us-ascii\n\nSee the attachment.\n\n'
    printf -- '--b-bench\nContent-Type: application/octet-stream; name="data.bin"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename="data.bin"\n\n'
    head -c "$(($2 * 1024 * 1024))" /dev/urandom | base64 -w 76
    printf -- '--b-bench--\n'
  } > "$1"
}
