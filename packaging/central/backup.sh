#!/usr/bin/env bash
# Back up the central PostgreSQL database with pg_dump's custom format (-Fc:
# compressed, restorable table by table, checked by pg_restore --list).
#
#   DATABASE_URL=postgresql://structura:...@127.0.0.1:5432/structura \
#       bash packaging/central/backup.sh [DIR] [KEEP]
#   # with the compose deployment, pg_dump runs inside the db container:
#   STRUCTURA_COMPOSE=1 bash packaging/central/backup.sh [DIR] [KEEP]
#
# Writes DIR/central-<UTC time>.dump (default DIR: ./backups), verifies it, keeps the
# newest KEEP dumps (default 14). pg_dump takes one consistent snapshot while the
# server keeps serving. Exit status non-zero on any failure (for cron/systemd timers).
set -euo pipefail

DIR="${1:-./backups}"
KEEP="${2:-14}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$DIR"
umask 077
name="central-$(date -u +%Y%m%dT%H%M%SZ).dump"
partial="$DIR/.$name.partial"
trap 'rm -f "$partial"' EXIT

if [[ "${STRUCTURA_COMPOSE:-0}" == 1 ]]; then
    docker compose -f "$HERE/compose.yaml" exec -T db \
        pg_dump --format=custom --no-owner -U structura structura >"$partial"
else
    : "${DATABASE_URL:?set DATABASE_URL (or STRUCTURA_COMPOSE=1)}"
    # libpq does not know SQLAlchemy's driver suffix.
    url="${DATABASE_URL/postgresql+psycopg:/postgresql:}"
    pg_dump --format=custom --no-owner --dbname="$url" --file="$partial"
fi

# A dump pg_restore cannot list is no backup.
pg_restore --list "$partial" >/dev/null
mv "$partial" "$DIR/$name"
echo "$DIR/$name $(du -h "$DIR/$name" | cut -f1)"

# Attachment bytes are not in the database: copy them too (incremental, verified by
# hash), after the dump so that the dump never names a blob the copy lacks.
if command -v structura >/dev/null 2>&1 && [[ "${STRUCTURA_COMPOSE:-0}" != 1 ]]; then
    structura central blobs-backup "$DIR/blobs"
fi

# Retention: the newest KEEP dumps stay.
mapfile -t old < <(ls -1 "$DIR"/central-*.dump 2>/dev/null | sort | head -n "-$KEEP")
for f in "${old[@]}"; do
    rm -f -- "$f"
    echo "removed $f"
done
