#!/usr/bin/env bash
# Starts a fresh server on embedded PGlite and runs the third-party SCIM conformance suites
# (../shared/scim-conformance) against it. Exits non-zero when a case fails that README.md does
# not list as deliberately failed.
set -euo pipefail
cd "$(dirname "$0")/.."
SUITES_DIR="${SCIM_CONFORMANCE_DIR:-../shared/scim-conformance}"
if [ ! -x "$SUITES_DIR/runner/run-suites.sh" ]; then
  echo "conformance suites not found at $SUITES_DIR; skipping" >&2
  exit 0
fi
PORT="${CONFORMANCE_PORT:-$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")}"
DATA="$(mktemp -d)"
TOKEN="scl_conformance_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
LOG="$DATA/server.log"
DATA_DIR="$DATA" PORT="$PORT" HOST=127.0.0.1 SCIM_BOOTSTRAP_TOKEN="$TOKEN" LOG_LEVEL=warn \
  node --import tsx src/main.ts serve >"$LOG" 2>&1 &
SERVER=$!
# The server is this shell's direct child (no npx wrapper), so killing $SERVER stops it.
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
OUT="$DATA/conformance.txt"
set +e
bash "$SUITES_DIR/runner/run-suites.sh" "http://127.0.0.1:$PORT/scim/v2" "$TOKEN" | tee "$OUT"
set -e
node scripts/check-conformance.mjs "$OUT" README.md
