#!/usr/bin/env bash
# Starts a private, throw-away PostgreSQL server for tests, or stops it.
#
#   scripts/start-test-postgres.sh <dir> <port>   initdb into <dir>/data, start on 127.0.0.1:<port> (socket in <dir>),
#                                                 create database detach_test; prints the Npgsql connection string.
#   scripts/start-test-postgres.sh --stop <dir>   pg_ctl stop -m immediate (nothing to keep: the data is disposable).
#
# Needs Debian's postgresql package (binaries under /usr/lib/postgresql/<ver>/bin). PostgreSQL refuses to run as
# root, so as root the server runs as the "postgres" user (the package creates it) and <dir> is chowned to it.
# Durability is switched off (fsync, full_page_writes): this server is for tests only.
set -euo pipefail

die() { echo "start-test-postgres: $*" >&2; exit 1; }

bindir=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bindir="$d"; break; fi
done
[ -n "$bindir" ] || die "no PostgreSQL binaries under /usr/lib/postgresql/*/bin (apt-get install -y postgresql)"

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [ "${1:-}" = "--stop" ]; then
  dir="${2:?usage: $0 --stop <dir>}"
  cd "$dir"
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
  fi
  exit 0
fi

dir="${1:?usage: $0 <dir> <port>}"
port="${2:?usage: $0 <dir> <port>}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
cd "$dir"  # the server user must be able to stat the working directory
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user to run the server as"
  chown -R postgres: "$dir"
fi

as_owner "$bindir/initdb" -D "$dir/data" -U detach --auth=trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; die "initdb failed"; }

opts="-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$opts" -w -t 60 start >/dev/null \
  || { cat "$dir/server.log" >&2; die "server did not start"; }

as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U detach detach_test

echo "Host=127.0.0.1;Port=$port;Username=detach;Database=detach_test"
