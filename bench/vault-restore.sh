#!/usr/bin/env bash
# Parallel restore benchmark (issue 13 §6): `ward restore --jobs N` against what a DBA does
# by hand from local files, on bench/vault.sh's dataset, in one run:
#   (a) `pg_restore -j N` of a local `pg_dump -Fc -Z0` file, then `cp -a` of the filestore
#       (timed apart; their sum is the baseline)
#   (b) `ward restore --jobs N` of a `ward backup run` of the same database and filestore
#       (ward restores the database and the filestore concurrently; it reports each phase)
# For each N in JOBS, (a) and (b) alternate ROUNDS times, so that both meet the same load
# on a shared machine; each restore goes into a new database (dropped after) and a new
# folder, kept until the end: on an ext4 without a journal (this VM's /tmp) creating files
# right after deleting as many is several times slower, which would time the deletion.
# Prints a Markdown table with the (b)/(a) ratio per round (also to $BENCH_OUT when set);
# the target is 1.1 at most.
#
# Usage: [JOBS="1 4"] [ROUNDS=1] [BENCH_OUT=file.md] bench/vault-restore.sh [SCALE=70] [ATTACHMENTS=22222]
#   A quick run: bench/vault-restore.sh 5 2000
# Needs: PostgreSQL server + client binaries (pgbench), GNU time.
set -euo pipefail

SCALE=${1:-70}
FILES=${2:-22222}
JOBS=${JOBS:-1 4}
ROUNDS=${ROUNDS:-1}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${BENCH_OUT:-/dev/null}
# shellcheck source=bench/vault/common.sh
source "$ROOT/bench/vault/common.sh"

require_tools "apt-get install time" cp /usr/bin/time
build_ward
start_bench ward-restore
RESULTS=$WORK/results.tsv
: > "$RESULTS"

make_odoo_dataset billing "$SCALE" "$FILES"
echo "pg_dump -Fc -Z0 to a local file, and ward backup run…" >&2
"$PGBIN/pg_dump" -h "$PGSOCK" -p "$PGPORT" -U postgres -Fc -Z0 -f "$WORK/billing.dump" billing
DUMP_BYTES=$(stat -c %s "$WORK/billing.dump")
# The throwaway server has no certificate and billing/prod holds PHI (default verify-full):
# local, ad-hoc use asks for sslmode=prefer, as scripts/demo.sh does. The restored objects
# belong to the connecting user, as pg_restore --no-owner leaves them in (a).
ESTATE=$WORK/care
"$WARD" init "$ESTATE" --example healthcare >/dev/null
"$WARD" --estate "$ESTATE" backup run billing/prod \
  --db-url "postgres://postgres@127.0.0.1:$PGPORT/billing?sslmode=prefer" --filestore "$FILESTORE" -o json > "$WORK/backup.json"
ID=$(sed -n 's/^ *"id": "\([^"]*\)".*/\1/p' "$WORK/backup.json" | head -1)

ROWS=()
for n in $JOBS; do
  for round in $(seq 1 "$ROUNDS"); do
    echo "jobs $n, round $round" >&2
    db=shell_${n}_$round
    psql_db postgres "CREATE DATABASE $db"
    measure a pg_restore "pg_restore -j $n (round $round)" -- \
      "$PGBIN/pg_restore" -h 127.0.0.1 -p "$PGPORT" -U postgres --no-owner --no-privileges \
      --exit-on-error --jobs="$n" --dbname="$db" "$WORK/billing.dump"
    A_DB=$(tail -1 "$RESULTS" | cut -f3)
    measure a filestore-copy "cp -a (round $round)" -- cp -a "$FILESTORE" "$WORK/$db"
    A_FS=$(tail -1 "$RESULTS" | cut -f3)
    psql_db postgres "DROP DATABASE $db"

    db=ward_${n}_$round
    measure b ward-restore "ward restore --jobs $n (round $round)" -- bash -c \
      "$(printf '%q ' "$WARD" --estate "$ESTATE" restore "$ID" --to-db "$db" --jobs "$n" --owner postgres \
        --filestore "$WORK/$db" --db-url "postgres://postgres@127.0.0.1:$PGPORT/postgres?sslmode=prefer" -o json) > $WORK/restore.json"
    B_TOTAL=$(tail -1 "$RESULTS" | cut -f3)
    B_DB=$(printf '%.2f' "$(json_num "$WORK/restore.json" databaseSeconds)")
    B_FS=$(printf '%.2f' "$(json_num "$WORK/restore.json" filestoreSeconds)")
    for phase in database filestore; do
      printf 'b\tward-restore-%s (phase)\t%s\t-\tinside ward restore --jobs %s; concurrent\n' \
        "$phase" "$(json_num "$WORK/restore.json" "${phase}Seconds")" "$n" >> "$RESULTS"
    done
    psql_db postgres "DROP DATABASE $db"

    RATIO=$(awk "BEGIN{printf \"%.2f\", $B_TOTAL/($A_DB+$A_FS)}")
    ROWS+=("| $n | $round | $A_DB | $A_FS | $(awk "BEGIN{printf \"%.2f\", $A_DB+$A_FS}") | $B_TOTAL | $B_DB | $B_FS | $RATIO |")
    echo "  ${ROWS[-1]}" >&2
  done
done

{
  echo "## Parallel restore — $(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$ROOT" rev-parse --short HEAD)"
  echo
  echo "Machine: $(machine)"
  echo "Data: pgbench scale $SCALE + $PARTNERS partners = database $((DB_BYTES / 1048576)) MB (\`pg_dump -Fc -Z0\` $((DUMP_BYTES / 1048576)) MB); filestore $((FS_BYTES / 1048576)) MB in $FS_FILES files"
  echo
  echo "| N | round | pg_restore -j N (s) | cp -a filestore (s) | baseline sum (s) | ward restore --jobs N (s) | ward database phase (s) | ward filestore phase (s) | ward / baseline |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "All timings (GNU time; peak RSS of the largest process):"
  echo
  results_table
} | tee "$OUT"
