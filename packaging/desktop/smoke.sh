#!/usr/bin/env bash
# Smoke check of a built bundle: does it start and answer on its API?
#
#   bash packaging/desktop/smoke.sh [dist/desktop/structura/structura]
#
# On a throwaway data dir (demo data made by the bundle itself), only on 127.0.0.1:
#  1. `structura desktop --offscreen-smoke`: the Qt window offscreen, every page opened,
#     the embedded API asked GET /api/health, then the ordered shutdown; exit code 0;
#  2. `structura site serve` headless: GET /api/health from outside (curl-free: the
#     bundle has no Python for us, so bash's /dev/tcp), then SIGTERM and a clean exit 0.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
EXE="${1:-$ROOT/dist/desktop/structura/structura}"
[[ -x "$EXE" ]] || { echo "ERROR: no bundle at $EXE (run packaging/desktop/build.sh)" >&2; exit 2; }

DATA="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then kill "$SERVER_PID"; fi
    rm -rf "$DATA"
}
trap cleanup EXIT

export STRUCTURA_DATA_DIR="$DATA" STRUCTURA_HOST=127.0.0.1 STRUCTURA_ANNOUNCE=false
export QT_QPA_PLATFORM=offscreen

echo "== demo data"
"$EXE" demo --admin-password "smoke-$RANDOM-$RANDOM" >"$DATA/demo.log" 2>&1 \
    || { cat "$DATA/demo.log"; exit 1; }

echo "== desktop, offscreen"
started=$SECONDS
"$EXE" desktop --offscreen-smoke 2>"$DATA/desktop.err" | tee "$DATA/desktop.out" \
    || { cat "$DATA/desktop.err"; exit 1; }
grep -q "/api/health -> 200" "$DATA/desktop.out" || { echo "ERROR: API did not answer"; exit 1; }
echo "desktop smoke: $((SECONDS - started)) s"

echo "== site serve, headless"
"$EXE" site serve --port 0 >"$DATA/serve.out" 2>"$DATA/serve.err" &
SERVER_PID=$!
url=""
for _ in $(seq 1 300); do
    url="$(grep -o 'http://127.0.0.1:[0-9]*' "$DATA/serve.out" || true)"
    [[ -n "$url" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$DATA/serve.err"; exit 1; }
    sleep 0.1
done
[[ -n "$url" ]] || { echo "ERROR: site serve printed no URL" >&2; cat "$DATA/serve.err"; exit 1; }
port="${url##*:}"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
reply="$(cat <&3)"
exec 3<&-
status="$(head -1 <<<"$reply")"
echo "GET $url/api/health -> $status"
[[ "$status" == *" 200 "* ]] || { echo "$reply"; exit 1; }
kill -TERM "$SERVER_PID"
rc=0
wait "$SERVER_PID" || rc=$?
SERVER_PID=""
[[ $rc == 0 ]] || { echo "ERROR: site serve exited $rc after SIGTERM" >&2; cat "$DATA/serve.err"; exit 1; }
echo "smoke: OK"
