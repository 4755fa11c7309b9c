#!/usr/bin/env bash
# Installs what the test suite drives for real: Postfix and swaks (proxy and milter end-to-end), miltertest,
# Dovecot (LMTP next hop), PostgreSQL (shared index), Chromium (download page), nginx (reverse proxy), clamd
# (attachment scanning; the tests give it their own signature database, freshclam is not needed), and the
# js-ipfs node under ipfs/ (a Kubo-compatible RPC API; Kubo itself cannot be installed here).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v postfix >/dev/null || need+=(postfix)
command -v swaks >/dev/null || need+=(swaks)
# An MTA-side milter client we did not write, for the milter's protocol tests (Lua scripts).
command -v miltertest >/dev/null || need+=(miltertest)
# swaks speaks STARTTLS only with these (recommended, so --no-install-recommends leaves them out).
perl -MNet::SSLeay -MIO::Socket::SSL -e 1 2>/dev/null || need+=(libnet-ssleay-perl libio-socket-ssl-perl)
[ -x /usr/lib/dovecot/lmtp ] || need+=(dovecot-lmtpd dovecot-imapd)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null || need+=(chromium)
[ -x /usr/sbin/clamd ] || need+=(clamav-daemon)
command -v python3 >/dev/null || need+=(python3)
command -v curl >/dev/null || need+=(curl)
# The reverse proxy in front of the download gateway (trusted-proxy and client-address tests).
[ -x /usr/sbin/nginx ] || need+=(nginx)
# js-ipfs needs Node.js 18 or later (the readiness check uses its built-in fetch).
command -v npm >/dev/null || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ -f ipfs/package-lock.json ] && [ ! -d ipfs/node_modules ]; then
  (cd ipfs && npm ci --no-audit --no-fund --loglevel=error)
fi
