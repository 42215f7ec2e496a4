#!/usr/bin/env bash
# Build the desktop app as a PyInstaller one-folder bundle:
#
#   bash packaging/desktop/build.sh            -> dist/desktop/structura/structura
#
# Uses the project venv (.venv; `bash scripts/dev test` makes it) and installs the
# pinned PyInstaller from the `packaging` extra into it. Prints the bundle's size and
# the build time, then runs smoke.sh unless STRUCTURA_SKIP_SMOKE=1.
# Environment: STRUCTURA_BUNDLE_DIST (default dist/desktop), STRUCTURA_BUNDLE_WORK
# (default build/desktop), STRUCTURA_BUNDLE_STRIP=1 to strip binaries (smaller, slower).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${STRUCTURA_PYTHON:-$ROOT/.venv/bin/python}"
DIST="${STRUCTURA_BUNDLE_DIST:-$ROOT/dist/desktop}"
WORK="${STRUCTURA_BUNDLE_WORK:-$ROOT/build/desktop}"

[[ -x "$PY" ]] || { echo "ERROR: no venv at $ROOT/.venv (run: bash scripts/dev test)" >&2; exit 2; }

started=$SECONDS
cd "$ROOT"
# The extra pins PyInstaller; installing it again is a no-op when it is there.
"$PY" -m pip install --quiet -e ".[desktop,packaging]"

"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$DIST" --workpath "$WORK" packaging/desktop/structura.spec

BUNDLE="$DIST/structura"
# Qt finds its platform plugins next to the library; without offscreen/xcb it cannot
# start at all, so a bundle missing them is a failed build.
for plugin in offscreen xcb; do
    if ! find "$BUNDLE" -path "*platforms*" -name "libq${plugin}.so" | grep -q .; then
        echo "ERROR: Qt platform plugin '$plugin' missing from the bundle" >&2
        exit 1
    fi
done
for data in "migrations/versions" "local_api/web/templates" "local_api/web/static"; do
    find "$BUNDLE" -type d -path "*/$data" | grep -q . || { echo "ERROR: $data missing" >&2; exit 1; }
done

elapsed=$((SECONDS - started))
size="$(du -sh "$BUNDLE" | cut -f1)"
echo "bundle: $BUNDLE"
echo "size: $size ($(find "$BUNDLE" -type f | wc -l) files); build time: ${elapsed} s"

if [[ "${STRUCTURA_SKIP_SMOKE:-0}" != 1 ]]; then
    bash "$ROOT/packaging/desktop/smoke.sh" "$BUNDLE/structura"
fi
