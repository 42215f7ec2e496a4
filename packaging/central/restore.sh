#!/usr/bin/env bash
# Restore the central database from a pg_dump custom-format file (backup.sh).
#
#   DATABASE_URL=postgresql://structura:...@127.0.0.1:5432/structura \
#       bash packaging/central/restore.sh FILE --yes
#   STRUCTURA_COMPOSE=1 bash packaging/central/restore.sh FILE --yes
#
# Stop the central server first (systemctl stop structura-central, or
# `docker compose stop central`): the restore drops and recreates every table in one
# transaction, so it either completes or leaves the database as it was.
# Afterwards run `structura db upgrade --url $DATABASE_URL` (a dump from an older
# version is brought to the current schema), then start the server.
# Read "Restoring the central server" in docs/operator-guide.md first: sites that synced
# after the dump was taken hold changes the restored server no longer knows.
set -euo pipefail

FILE="${1:?usage: restore.sh FILE --yes}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ "${2:-}" == "--yes" ]] || { echo "this replaces the central database; add --yes" >&2; exit 2; }
[[ -f "$FILE" ]] || { echo "no such file: $FILE" >&2; exit 2; }
pg_restore --list "$FILE" >/dev/null  # refuse a damaged dump before touching anything

args=(--clean --if-exists --no-owner --single-transaction --exit-on-error)
if [[ "${STRUCTURA_COMPOSE:-0}" == 1 ]]; then
    docker compose -f "$HERE/compose.yaml" exec -T db \
        pg_restore "${args[@]}" -U structura -d structura <"$FILE"
else
    : "${DATABASE_URL:?set DATABASE_URL (or STRUCTURA_COMPOSE=1)}"
    url="${DATABASE_URL/postgresql+psycopg:/postgresql:}"
    pg_restore "${args[@]}" --dbname="$url" "$FILE"
fi
echo "restored from $FILE; now: structura db upgrade --url \"\$DATABASE_URL\", then start the server"
