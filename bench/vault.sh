#!/usr/bin/env bash
# Vault benchmark (issue 5 §6): one Odoo-shaped environment — pgbench tables plus Odoo
# tables (~1 GB of database at scale 70) and a filestore of ~20,000 files of mixed sizes
# (~1 GB) — backed up and restored, in one run, by:
#   (a) pg_dump -Fc -Z0 | zstd -3 | age, then tar | zstd -3 | age of the filestore
#   (b) restic backup of the same dump (stdin) and filestore
#   (c) ward backup run (full)
#   (d) ward backup run after 1% of the filestore changed (and restic on the same change)
#   (e) age | zstd | pg_restore + untar of (a), against ward restore
# For each phase: wall time (s) and peak RSS (MB, the largest process of the phase's tree,
# from GNU time). Prints a Markdown table (also written to $BENCH_OUT when set).
# (a) and (c) alternate ROUNDS times (3 by default), each (c) into a new repository, and the
# (c)/(a) ratio of each round and its median are reported: on a shared machine one round's
# ratio swings with the other load, and alternating exposes both sides to the same load.
#
# Usage: [ROUNDS=3] [WARD_BASELINE=/path/to/other/ward] bench/vault.sh [SCALE=70] [ATTACHMENTS=22222]
#   WARD_BASELINE adds, each round, a (c) run of another ward binary (an older commit's
#   release build) into its own repository: a before/after comparison on the same data.
#   Every tenth attachment shares its content with the previous one (as Odoo deduplicates),
#   so 22,222 attachments make ~20,000 files. A quick run: bench/vault.sh 5 2000
# Needs: PostgreSQL server + client binaries (pgbench), age, zstd, restic, GNU time, tar.
# On Debian: apt-get install postgresql postgresql-contrib age zstd restic time
set -euo pipefail

SCALE=${1:-70}
ROUNDS=${ROUNDS:-3}
FILES=${2:-22222}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${BENCH_OUT:-/dev/null}
# shellcheck source=bench/vault/common.sh
source "$ROOT/bench/vault/common.sh"

require_tools "apt-get install age zstd restic time" age age-keygen zstd restic tar /usr/bin/time
build_ward
start_bench ward-bench
RESULTS=$WORK/results.tsv
: > "$RESULTS"

# --- Data -----------------------------------------------------------------------------
make_odoo_dataset billing "$SCALE" "$FILES"

age-keygen -o "$WORK/bench.key" 2>/dev/null
RECIPIENT=$(sed -n 's/^# public key: //p' "$WORK/bench.key")
DUMP=("$PGBIN/pg_dump" -h 127.0.0.1 -p "$PGPORT" -U postgres -Fc -Z0 billing)
mkdir -p "$WORK/a"

# --- (a) and (c), alternating ------------------------------------------------------------
# The throwaway server has no certificate and billing/prod holds PHI (default verify-full):
# this local, ad-hoc use asks for sslmode=prefer, as scripts/demo.sh does; and the restore
# leaves the objects to the connecting user, as the shell's `pg_restore --no-owner` does.
RATIOS=()
for round in $(seq 1 "$ROUNDS"); do
  echo "(a) shell pipelines, round $round" >&2
  measure a shell-dump "pg_dump|zstd -3|age (round $round)" -- bash -c \
    "$(printf '%q ' "${DUMP[@]}") | zstd -3 -q | age -r $RECIPIENT > $WORK/a/db.age"
  A_DUMP=$(tail -1 "$RESULTS" | cut -f3)
  measure a shell-filestore "tar|zstd -3|age (round $round)" -- bash -c \
    "tar -C $FILESTORE -cf - . | zstd -3 -q | age -r $RECIPIENT > $WORK/a/fs.age"
  A_FS=$(tail -1 "$RESULTS" | cut -f3)

  echo "(c) ward backup run, round $round (a new repository)" >&2
  ESTATE=$WORK/care-$round
  "$WARD" init "$ESTATE" --example healthcare >/dev/null
  WARD_RUN=("$WARD" --estate "$ESTATE" backup run billing/prod
    --db-url "postgres://postgres@127.0.0.1:$PGPORT/billing?sslmode=prefer" --filestore "$FILESTORE" -o json)
  measure c ward-total "ward backup run (round $round)" -- \
    bash -c "$(printf '%q ' "${WARD_RUN[@]}") > $WORK/c.json"
  C_TOTAL=$(tail -1 "$RESULTS" | cut -f3)
  for phase in dump filestore manifest; do
    printf 'c\tward-%s (phase)\t%s\t-\tinside (c) round %s; dump and filestore run concurrently\n' \
      "$phase" "$(json_num "$WORK/c.json" "${phase}Seconds")" "$round" >> "$RESULTS"
  done
  RATIOS+=("$(awk "BEGIN{printf \"%.2f\", $C_TOTAL/($A_DUMP+$A_FS)}")")
  echo "  round $round: (c)/(a) = ${RATIOS[-1]}" >&2
  if [[ -n "${WARD_BASELINE:-}" ]]; then
    echo "(c) baseline $WARD_BASELINE, round $round (a new repository)" >&2
    BASE_ESTATE=$WORK/base-$round
    "$WARD_BASELINE" init "$BASE_ESTATE" --example healthcare >/dev/null
    measure c baseline-total "WARD_BASELINE backup run (round $round)" -- bash -c \
      "$(printf '%q ' "$WARD_BASELINE" --estate "$BASE_ESTATE" backup run billing/prod \
        --db-url "postgres://postgres@127.0.0.1:$PGPORT/billing?sslmode=prefer" --filestore "$FILESTORE" \
        -o json) > /dev/null"
    B_TOTAL=$(tail -1 "$RESULTS" | cut -f3)
    echo "  round $round: baseline/(a) = $(awk "BEGIN{printf \"%.2f\", $B_TOTAL/($A_DUMP+$A_FS)}")" >&2
  fi
done
A_BYTES=$(( $(stat -c %s "$WORK/a/db.age") + $(stat -c %s "$WORK/a/fs.age") ))
C_NEW=$(json_num "$WORK/c.json" newBytes)
MEDIAN=$(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : sprintf("%.2f", (v[NR/2]+v[NR/2+1])/2)}')

# --- (b) restic --------------------------------------------------------------------------
echo "(b) restic" >&2
export RESTIC_REPOSITORY=$WORK/restic RESTIC_PASSWORD=bench RESTIC_CACHE_DIR=$WORK/restic-cache
restic init -q --repository-version 2 >/dev/null
measure b restic-dump "pg_dump|restic --stdin" -- bash -c \
  "$(printf '%q ' "${DUMP[@]}") | restic backup -q --stdin --stdin-filename billing.dump"
measure b restic-filestore "restic backup (full)" -- restic backup -q "$FILESTORE"

# --- (d) 1% of the filestore changes ---------------------------------------------------------
CHANGE=$((FILES / 100))
echo "(d) $CHANGE new attachments (1%), ward and restic again" >&2
"$FIXTURE" --db-url "postgres://postgres:$PGPASSWORD@127.0.0.1:$PGPORT/billing" \
  --filestore "$FILESTORE" --add "$CHANGE" --seed 4242 \
  --min-blob "$MIN_BLOB" --max-blob "$MAX_BLOB" >/dev/null
measure d ward-total "ward backup run (1% changed)" -- bash -c "$(printf '%q ' "${WARD_RUN[@]}") > $WORK/d.json"
for phase in dump filestore manifest; do
  printf 'd\tward-%s (phase)\t%s\t-\tinside (d)\n' \
    "$phase" "$(json_num "$WORK/d.json" "${phase}Seconds")" >> "$RESULTS"
done
D_NEW=$(json_num "$WORK/d.json" newBytes)
D_CHUNKS=$(json_num "$WORK/d.json" dumpChunks)
D_CHUNKS_NEW=$(json_num "$WORK/d.json" dumpChunksUploaded)
D_UPLOADED=$(json_num "$WORK/d.json" blobsUploaded)
measure d restic-filestore "restic backup (1% changed)" -- restic backup -q "$FILESTORE"

# --- (e) restores ------------------------------------------------------------------------
echo "(e) restores" >&2
psql_db postgres "CREATE DATABASE restore_shell"
mkdir -p "$WORK/e-shell"
measure e shell-restore-db "age|zstd -d|pg_restore" -- bash -c \
  "age -d -i $WORK/bench.key $WORK/a/db.age | zstd -d -q | $PGBIN/pg_restore -h 127.0.0.1 -p $PGPORT -U postgres --no-owner -d restore_shell"
measure e shell-restore-files "age|zstd -d|tar x" -- bash -c \
  "age -d -i $WORK/bench.key $WORK/a/fs.age | zstd -d -q | tar -C $WORK/e-shell -xf -"
ID=$(sed -n 's/^ *"id": "\([^"]*\)".*/\1/p' "$WORK/d.json" | head -1)
measure e ward-restore "ward restore" -- bash -c \
  "$(printf '%q ' "$WARD" --estate "$ESTATE" restore "$ID" --to-db restore_ward --owner postgres \
    --filestore "$WORK/e-ward" --db-url "postgres://postgres@127.0.0.1:$PGPORT/postgres?sslmode=prefer" -o json) > $WORK/e.json"
for phase in database filestore; do
  printf 'e\tward-restore-%s (phase)\t%s\t-\tinside ward restore; concurrent\n' \
    "$phase" "$(json_num "$WORK/e.json" "${phase}Seconds")" >> "$RESULTS"
done

# --- Report ------------------------------------------------------------------------------
{
  echo "## Vault benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Machine: $(machine); restic $(restic version | awk '{print $2}'); age $(age --version); zstd $(zstd -V | sed -n 's/.* v\([0-9.]*\).*/\1/p')"
  echo "Data: pgbench scale $SCALE + $PARTNERS partners = database $((DB_BYTES / 1048576)) MB; filestore $((FS_BYTES / 1048576)) MB in $FS_FILES files ($MIN_BLOB–$MAX_BLOB bytes, half compressible)"
  echo
  results_table
  echo
  echo "(c)/(a) per round: ${RATIOS[*]}; median $MEDIAN."
  echo
  echo "Stored: (a) $((A_BYTES / 1048576)) MB; (c) ward new bytes $((C_NEW / 1048576)) MB; (d) ward new bytes $((D_NEW / 1048576)) MB ($(awk "BEGIN{printf \"%.2f\", 100*$D_NEW/$C_NEW}")% of (c)): $D_UPLOADED new blobs and $D_CHUNKS_NEW new dump chunks of $D_CHUNKS."
} | tee "$OUT"
