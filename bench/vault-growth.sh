#!/usr/bin/env bash
# Repository growth benchmark (issue 13 §2, §3, §7): what a second backup stores after a
# given change, what 30 daily backups of a growing database add up to, and how many
# objects and S3 requests a backup makes — Ward and restic side by side, on the same
# database and filestore, in one run.
#   patterns: none; 1% of rows appended to the large tables; 1% of rows updated uniformly
#   daily:    DAYS backups, the large tables growing 1% a day (default 30)
#   s3:       one full and one unchanged backup of each tool against moto's S3, counting the
#             requests the server logged and the objects in the bucket
# Every tool backs up `pg_dump -Fc -Z0` of the same database: Ward runs it itself, restic
# reads it from stdin (`restic backup --stdin`), as a user would pipe it. Sizes are what the
# repository folder grew by (`du -sb`), so they include every index, manifest and key.
#
# Usage: [DAYS=30] [BENCH_OUT=file.md] bench/vault-growth.sh [SCALE=20] [ATTACHMENTS=300]
# Needs: PostgreSQL server + client binaries (pgbench), restic, moto_server, GNU time.
set -euo pipefail

SCALE=${1:-20}
FILES=${2:-300}
DAYS=${DAYS:-30}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${BENCH_OUT:-/dev/null}
# shellcheck source=bench/vault/common.sh
source "$ROOT/bench/vault/common.sh"

require_tools ".ci/run installs it" restic moto_server
build_ward
start_bench ward-growth

# --- Data: a template database, copied afresh for every pattern -----------------------------
echo "generating: pgbench -i -s $SCALE and $FILES attachments…" >&2
psql_db postgres "CREATE DATABASE base"
"$PGBENCH" -i -q -s "$SCALE" -h "$PGSOCK" -p "$PGPORT" -U postgres base 2>/dev/null
# pgbench's filler is blanks, which zstd shrinks ~100-fold and which would hide the dump
# behind the filestore; hex text compresses about 2:1, like an ERP's real rows.
psql_db base "UPDATE pgbench_accounts SET filler = md5(aid::text) || md5((aid * 7)::text)" >/dev/null
psql_db base "VACUUM FULL pgbench_accounts" >/dev/null
FILESTORE=$WORK/filestore
"$FIXTURE" --db-url "postgres://postgres:$PGPASSWORD@127.0.0.1:$PGPORT/base" \
  --filestore "$FILESTORE" --partners 20000 --attachments "$FILES" >/dev/null
psql_db base "VACUUM ANALYZE" >/dev/null
DB_BYTES=$(psql_db base "SELECT pg_database_size('base')")
DUMP_BYTES=$("$PGBIN/pg_dump" -h "$PGSOCK" -p "$PGPORT" -U postgres -Fc -Z0 base | wc -c)
FS_BYTES=$(du -sb "$FILESTORE" | cut -f1)
echo "database $((DB_BYTES / 1048576)) MB (dump $((DUMP_BYTES / 1048576)) MB), filestore $((FS_BYTES / 1048576)) MB" >&2

fresh_db() {
  psql_db postgres "DROP DATABASE IF EXISTS billing"
  psql_db postgres "CREATE DATABASE billing TEMPLATE base"
}
# The large tables: pgbench's accounts and Odoo's partners.
append_1pct() {
  psql_db billing "WITH m AS (SELECT max(aid) AS top FROM pgbench_accounts)
      INSERT INTO pgbench_accounts SELECT m.top + row_number() OVER (), bid, abalance, filler
      FROM pgbench_accounts, m WHERE aid % 100 = 0;
    INSERT INTO res_partner (name, email, active) SELECT name || ' (copy)', email, active FROM res_partner WHERE id % 100 = 0" >/dev/null
}
update_1pct() {
  psql_db billing "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 100 = 7;
    UPDATE res_partner SET name = name || '.' WHERE id % 100 = 7" >/dev/null
}

# A fresh Ward estate (its own local vault) and restic repository.
new_repos() {
  ESTATE=$WORK/care-$1
  rm -rf "$ESTATE" "$WORK/restic-$1"
  "$WARD" init "$ESTATE" --example healthcare >/dev/null
  VAULT=$ESTATE/.ward/vault
  export RESTIC_REPOSITORY=$WORK/restic-$1 RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$WORK/restic-cache
  restic init -q --repository-version 2 >/dev/null
}
# sslmode=prefer: the throwaway server has no certificate, and billing/prod holds PHI
# (default verify-full); local, ad-hoc use asks for it, as scripts/demo.sh does.
ward_backup() {
  "$WARD" --estate "$ESTATE" backup run billing/prod \
    --db-url "postgres://postgres@127.0.0.1:$PGPORT/billing?sslmode=prefer" --filestore "$FILESTORE" -o json >/dev/null
}
restic_backup() {
  "$PGBIN/pg_dump" -h "$PGSOCK" -p "$PGPORT" -U postgres -Fc -Z0 billing \
    | restic backup -q --stdin --stdin-filename billing.dump >/dev/null
  restic backup -q "$FILESTORE" >/dev/null
}
size() { du -sb "$1" | cut -f1; }
objects() { find "$1" -type f | wc -l; }
pct() { awk "BEGIN{printf \"%.1f\", 100*$1/$2}"; }

ROWS=()
for pattern in none append update; do
  echo "pattern: $pattern" >&2
  fresh_db
  new_repos "$pattern"
  ward_backup
  restic_backup
  W1=$(size "$VAULT"); R1=$(size "$RESTIC_REPOSITORY")
  WO1=$(objects "$VAULT"); RO1=$(objects "$RESTIC_REPOSITORY")
  case $pattern in append) append_1pct ;; update) update_1pct ;; esac
  ward_backup
  restic_backup
  W2=$(size "$VAULT"); R2=$(size "$RESTIC_REPOSITORY")
  WO2=$(objects "$VAULT"); RO2=$(objects "$RESTIC_REPOSITORY")
  ROWS+=("| $pattern | $((W1 / 1048576)) | $(((W2 - W1) / 1024)) KB = $(pct $((W2 - W1)) "$W1")% | $((WO1)) / $((WO2 - WO1)) | $((R1 / 1048576)) | $(((R2 - R1) / 1024)) KB = $(pct $((R2 - R1)) "$R1")% | $((RO1)) / $((RO2 - RO1)) |")
  echo "  ${ROWS[-1]}" >&2
done

echo "daily: $DAYS backups, 1% growth a day" >&2
fresh_db
new_repos daily
for day in $(seq 1 "$DAYS"); do
  append_1pct
  ward_backup
  restic_backup
done
DAY_DUMP=$("$PGBIN/pg_dump" -h "$PGSOCK" -p "$PGPORT" -U postgres -Fc -Z0 billing | wc -c)
W_DAILY=$(size "$VAULT"); R_DAILY=$(size "$RESTIC_REPOSITORY")
W_DAILY_OBJ=$(objects "$VAULT"); R_DAILY_OBJ=$(objects "$RESTIC_REPOSITORY")

echo "s3: requests against moto" >&2
start_moto
fresh_db
new_repos s3
vault_on_moto "$ESTATE"
S3ROWS=()
for run in full unchanged; do
  before=$(requests); ward_backup; W_REQ=$(( $(requests) - before ))
  W_OBJ=$(bucket_objects ward-bench)
  export RESTIC_REPOSITORY=s3:http://127.0.0.1:$MOTO_PORT/restic-bench
  [[ $run == full ]] && restic init -q --repository-version 2 >/dev/null
  before=$(requests); restic_backup; R_REQ=$(( $(requests) - before ))
  R_OBJ=$(bucket_objects restic-bench)
  S3ROWS+=("| $run | $W_REQ | $W_OBJ | $R_REQ | $R_OBJ |")
  echo "  ${S3ROWS[-1]}" >&2
done

{
  echo "## Repository growth — $(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$ROOT" rev-parse --short HEAD)"
  echo
  echo "Machine: $(machine); restic $(restic version | awk '{print $2}')"
  echo "Data: pgbench scale $SCALE + 20,000 partners: database $((DB_BYTES / 1048576)) MB, \`pg_dump -Fc -Z0\` $((DUMP_BYTES / 1048576)) MB; filestore $((FS_BYTES / 1048576)) MB in $FILES attachments"
  echo
  echo "| change before the second backup | Ward first (MB) | Ward second adds | Ward objects first / added | restic first (MB) | restic second adds | restic objects first / added |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "$DAYS daily backups, the large tables growing 1% a day (last dump $((DAY_DUMP / 1048576)) MB): Ward $((W_DAILY / 1048576)) MB in $W_DAILY_OBJ objects; restic $((R_DAILY / 1048576)) MB in $R_DAILY_OBJ objects."
  echo
  echo "S3 (moto), requests the server logged per backup and objects in the bucket after it:"
  echo
  echo "| backup | Ward requests | Ward objects | restic requests | restic objects |"
  echo "|---|---:|---:|---:|---:|"
  printf '%s\n' "${S3ROWS[@]}"
} | tee "$OUT"
