#!/usr/bin/env bash
# Objects and requests per backup (issue 13 §3): a full backup of the ~20,000-file benchmark
# filestore, then an incremental one after 1% more attachments and 1% more rows, against a
# real S3 server (moto) — Ward and restic side by side, in one run. Counts are the objects
# the bucket holds after each backup (listed) and the requests the server logged during it.
#
# Usage: [BENCH_OUT=file.md] bench/vault-objects.sh [SCALE=5] [ATTACHMENTS=22222]
#   (22,222 attachments make ~20,000 files: the fixture shares a few, as Odoo does)
# Needs: PostgreSQL server + client binaries (pgbench), restic, moto_server, curl.
set -euo pipefail

SCALE=${1:-5}
FILES=${2:-22222}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${BENCH_OUT:-/dev/null}
# shellcheck source=bench/vault/common.sh
source "$ROOT/bench/vault/common.sh"

require_tools ".ci/run installs it" restic moto_server curl python3
build_ward
start_bench ward-objects

make_odoo_dataset billing "$SCALE" "$FILES"

start_moto
ESTATE=$WORK/care
"$WARD" init "$ESTATE" --example healthcare >/dev/null
vault_on_moto "$ESTATE"
export RESTIC_REPOSITORY=s3:http://127.0.0.1:$MOTO_PORT/restic-bench RESTIC_PASSWORD=bench
export RESTIC_CACHE_DIR=$WORK/restic-cache
restic init -q --repository-version 2 >/dev/null

ward_backup() {
  "$WARD" --estate "$ESTATE" backup run billing/prod \
    --db-url "postgres://postgres:$PGPASSWORD@127.0.0.1:$PGPORT/billing?sslmode=prefer" \
    --filestore "$FILESTORE" -o json > "$WORK/ward-$1.json"
}
restic_backup() {
  "$PGBIN/pg_dump" -h "$PGSOCK" -p "$PGPORT" -U postgres -Fc -Z0 billing \
    | restic backup -q --stdin --stdin-filename billing.dump >/dev/null
  restic backup -q "$FILESTORE" >/dev/null
}

ROWS=()
W_BEFORE=0; R_BEFORE=0
for run in full incremental; do
  if [[ $run == incremental ]]; then
    CHANGE=$((FILES / 100))
    echo "1% change: $CHANGE new attachments, 1% more rows" >&2
    "$FIXTURE" --db-url "postgres://postgres:$PGPASSWORD@127.0.0.1:$PGPORT/billing" \
      --filestore "$FILESTORE" --add "$CHANGE" --seed 4242 \
      --min-blob "$MIN_BLOB" --max-blob "$MAX_BLOB" >/dev/null
    psql_db billing "INSERT INTO pgbench_accounts SELECT aid + 100000000, bid, abalance, filler FROM pgbench_accounts WHERE aid % 100 = 0" >/dev/null
  fi
  echo "$run backup" >&2
  before=$(requests); ward_backup "$run"; W_REQ=$(( $(requests) - before ))
  W_OBJ=$(bucket_objects ward-bench)
  before=$(requests); restic_backup; R_REQ=$(( $(requests) - before ))
  R_OBJ=$(bucket_objects restic-bench)
  ROWS+=("| $run | $((W_OBJ - W_BEFORE)) | $W_REQ | $((R_OBJ - R_BEFORE)) | $R_REQ |")
  echo "  ${ROWS[-1]}" >&2
  W_BEFORE=$W_OBJ; R_BEFORE=$R_OBJ
done

{
  echo "## Objects and requests per backup — $(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$ROOT" rev-parse --short HEAD)"
  echo
  echo "Machine: $(machine); restic $(restic version | awk '{print $2}'); S3: moto"
  echo "Data: pgbench scale $SCALE; filestore $((FS_BYTES / 1048576)) MB in $FS_FILES files"
  echo
  echo "| backup | Ward objects written | Ward requests | restic objects written | restic requests |"
  echo "|---|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$OUT"
