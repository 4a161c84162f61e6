#!/usr/bin/env bash
# The browser checks against `site serve` on a free loopback port, with the sample content
# and a throwaway data folder: every page with axe-core, its security headers and no CSP
# violation (a11y.mjs), then a comment sent, approved and replied to under the CSP
# (csp.mjs). Installs Debian's chromium and the two npm packages (pinned in
# package-lock.json) when missing. Needs the `site` binary built.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
(cd tests/browser && npm ci --no-audit --no-fund --silent)
DATA=$(mktemp -d)
LOG="$DATA/serve.log"
target/debug/site serve --addr 127.0.0.1:0 --content sample/content --data "$DATA/data" >"$LOG" 2>&1 &
SERVER=$!
stop() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DATA"; }
trap stop EXIT
for _ in $(seq 1 600); do
  grep -q '^Serving ' "$LOG" && break
  kill -0 $SERVER 2>/dev/null || { cat "$LOG"; exit 1; }
  sleep 0.1
done
URL=$(sed -n 's/^Serving \(http:\/\/[^ ]*\).*/\1/p' "$LOG" | head -1)
[ -n "$URL" ] || { cat "$LOG"; exit 1; }
status=0
node tests/browser/a11y.mjs "$URL" || status=$?
SITE_DATA="$DATA/data" SITE_BIN=target/debug/site node tests/browser/csp.mjs "$URL" || status=$?
exit "$status"
