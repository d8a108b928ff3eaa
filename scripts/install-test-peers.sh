#!/usr/bin/env bash
# Install the real peers the tests talk to (Dovecot IMAP, Debian's Chromium) when we can:
# as root with apt-get. Otherwise say so; the tests then skip with the reason (and fail under CI=true).
set -u
need=()
command -v /usr/sbin/dovecot >/dev/null 2>&1 || need+=(dovecot-imapd)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing test peers: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
    || echo "warning: apt-get could not install ${need[*]}" >&2
  # Dovecot's package starts a system instance on port 143; the tests run their own on free ports.
  command -v systemctl >/dev/null 2>&1 || true
else
  echo "warning: not root or no apt-get: cannot install ${need[*]}; tests needing them will skip" >&2
fi
exit 0
