#!/bin/sh
# Renders Detach's proxy fragments into the stock Postfix configuration, then runs Postfix in the foreground.
# detach shares this container's network namespace (network_mode: service:postfix), so 127.0.0.1 reaches it.
set -eu
d=/etc/postfix/detach
render() {
  sed -e "s/{{INBOUND}}/smtp/" \
      -e "s/{{FILTER_PORT}}/${DETACH_FILTER_PORT:-10025}/g" \
      -e "s/{{REINJECT_PORT}}/${DETACH_REINJECT_PORT:-10026}/g" \
      -e "s/{{PROXY_TIMEOUT}}/${PROXY_TIMEOUT:-100s}/g" \
      -e "s/{{MESSAGE_SIZE_LIMIT}}/${MESSAGE_SIZE_LIMIT:-67108864}/g" "$1"
}
if [ ! -f "$d/.rendered" ]; then
  # The fragment's inbound service replaces the stock "smtp inet" line.
  sed -i '/^smtp[[:space:]]\+inet/d' /etc/postfix/master.cf
  render "$d/master.cf.fragment" >> /etc/postfix/master.cf
  render "$d/main.cf.fragment" >> /etc/postfix/main.cf
  postconf -e "myhostname=${MAIL_HOSTNAME:-mx.example.com}" \
              "mydestination=" \
              "inet_interfaces=all" \
              "maillog_file=/dev/stdout" \
              "relayhost=${RELAYHOST:-}" \
              "relay_domains=${RELAY_DOMAINS:-}" \
              "mynetworks=127.0.0.0/8 ${MYNETWORKS:-}"
  touch "$d/.rendered"
fi
postfix check
exec postfix start-fg
