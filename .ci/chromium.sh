#!/usr/bin/env bash
# Debian's Chromium for the dashboard's browser tests (test/ui): npm cannot download browsers
# here, so playwright-core drives /usr/bin/chromium. Idempotent: does nothing when it is there.
# Progress goes to stderr; the one line on stdout is the browser's path.
#
#   bash .ci/chromium.sh
set -euo pipefail

BROWSER=/usr/bin/chromium
log() { echo "chromium.sh: $*" >&2; }

# One install at a time: test workers may call this concurrently on a fresh machine.
exec 9>/tmp/baton-chromium-setup.lock
flock 9

if [ ! -x "$BROWSER" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "Chromium is not installed and this is not root: run 'apt-get install -y chromium' as root"
    exit 1
  fi
  log "installing Chromium from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
  [ -x "$BROWSER" ] || { log "the chromium package installed, but $BROWSER is missing"; exit 1; }
fi
log "$("$BROWSER" --version 2>/dev/null || echo "$BROWSER")"
echo "$BROWSER"
