# shellcheck shell=bash
# What the vault benchmarks share (sourced by bench/vault*.sh after they set ROOT): the tool
# check, the release builds of ward and the fixture generator, a work folder and a
# throwaway PostgreSQL torn down on exit, timing under GNU time, and the Odoo-shaped
# dataset bench/vault.sh and bench/vault-restore.sh measure on.
#
# Sets WARD, FIXTURE (build_ward); WORK, PGBENCH and the bench/vault/pg.sh variables
# (start_bench); FILESTORE, DB_BYTES, FS_BYTES, FS_FILES (make_odoo_dataset).
# BENCH_PIDS: background servers a script started, killed on exit.
# The dataset's sizes beside its scale and attachment count (the scripts' arguments):
# MIN_BLOB, MAX_BLOB (bytes) and PARTNERS, from the environment or these defaults.
MIN_BLOB=${MIN_BLOB:-1024}
MAX_BLOB=${MAX_BLOB:-106000}
PARTNERS=${PARTNERS:-100000}
# The example estate's default store is the S3 bucket `care-backups`; the benchmarks back up
# to its store `vault` (a folder in the state folder, or the S3 server a script points it at).
export WARD_OBJECT_STORE=vault

# shellcheck source=bench/vault/pg.sh
source "$ROOT/bench/vault/pg.sh"

# require_tools HINT TOOL…: exits 2 naming the first tool not on PATH, and HINT.
require_tools() {
  local hint=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing ($hint)" >&2; exit 2; }
  done
}

# build_ward: release builds of ward and the fixture generator, as the benchmarks measure them.
build_ward() {
  echo "building ward and the fixture generator (release)…" >&2
  cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p ward-cli
  cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p ward-vault --example odoo-fixture
  local target_dir
  target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  WARD=$target_dir/release/ward
  FIXTURE=$target_dir/release/examples/odoo-fixture
}

BENCH_PIDS=()
bench_cleanup() {
  local rc=$? pid
  for pid in "${BENCH_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  stop_pg
  [[ "${BENCH_KEEP:-}" == 1 ]] || rm -rf "$WORK"
  exit $rc
}

# start_bench NAME: a work folder under $BENCH_DIR (default /tmp), removed on exit unless
# BENCH_KEEP=1; a started PostgreSQL; and the environment ward runs in (no state or
# estate from the caller's shell).
start_bench() {
  WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/$1.XXXXXX")
  trap bench_cleanup EXIT
  start_pg "${BENCH_DIR:-/tmp}"
  PGBENCH=$PGBIN/pgbench
  command -v "$PGBENCH" >/dev/null || PGBENCH=$(command -v pgbench)
  export WARD_ACTOR=bench NO_COLOR=1
  unset WARD_STATE WARD_ESTATE WARD_IDENTITY
}

# measure LABEL PHASE NOTE -- command…   (runs it under GNU time, records wall + RSS in
# $RESULTS)
measure() {
  local label=$1 phase=$2 note=$3
  shift 4
  local tf=$WORK/time.out wall rss
  sync
  /usr/bin/time -f '%e %M' -o "$tf" "$@"
  read -r wall rss < "$tf"
  printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$phase" "$wall" "$((rss / 1024))" "$note" >> "$RESULTS"
  printf '  %-28s %-22s %8ss %6s MB  %s\n' "$label" "$phase" "$wall" "$((rss / 1024))" "$note" >&2
}

# results_table: what measure recorded in $RESULTS, as a Markdown table.
results_table() {
  echo "| run | phase | wall (s) | peak RSS (MB) | what |"
  echo "|---|---|---:|---:|---|"
  awk -F'\t' '{w = ($3 ~ /^[0-9.]+$/) ? sprintf("%.2f", $3) : $3; gsub(/\|/, "\\|", $5);
    printf "| %s | %s | %s | %s | %s |\n", $1, $2, w, $4, $5}' "$RESULTS"
}

# json_num FILE KEY: the first number KEY has in ward's pretty-printed JSON.
json_num() { sed -n "s/^ *\"$2\": \([0-9.e+-]*\),\{0,1\}$/\1/p" "$1" | head -1; }

# machine: cores, processor, memory and PostgreSQL version, for a report's "Machine:" line.
machine() {
  echo "$(nproc) CPU ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(free -g | awk '/Mem:/{print $2}') GB RAM; PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}')"
}

# make_odoo_dataset DB SCALE FILES: database DB with pgbench's tables at SCALE plus Odoo's
# (PARTNERS partners, FILES attachments of MIN_BLOB–MAX_BLOB bytes, every tenth sharing its
# content with the previous one) and its filestore folder.
make_odoo_dataset() {
  local db=$1 scale=$2 files=$3
  echo "generating: pgbench -i -s $scale, $PARTNERS partners, $files attachments…" >&2
  psql_db postgres "CREATE DATABASE $db"
  "$PGBENCH" -i -q -s "$scale" -h "$PGSOCK" -p "$PGPORT" -U postgres "$db" 2>/dev/null
  FILESTORE=$WORK/odoo-data/filestore/$db
  "$FIXTURE" --db-url "postgres://postgres:$PGPASSWORD@127.0.0.1:$PGPORT/$db" \
    --filestore "$FILESTORE" --partners "$PARTNERS" --attachments "$files" \
    --min-blob "$MIN_BLOB" --max-blob "$MAX_BLOB" >/dev/null
  psql_db "$db" "VACUUM ANALYZE" >/dev/null
  DB_BYTES=$(psql_db "$db" "SELECT pg_database_size('$db')")
  FS_BYTES=$(du -sb "$FILESTORE" | cut -f1)
  FS_FILES=$(find "$FILESTORE" -type f | wc -l)
  echo "database $((DB_BYTES / 1048576)) MB, filestore $((FS_BYTES / 1048576)) MB in $FS_FILES files" >&2
}

# start_moto: a moto S3 server on a free port (MOTO_PORT, killed on exit) with the buckets
# ward-bench and restic-bench. `requests` counts the requests it has logged so far;
# `bucket_objects BUCKET` counts the objects a bucket holds (every listing page).
start_moto() {
  MOTO_PORT=$(free_port)
  moto_server -H 127.0.0.1 -p "$MOTO_PORT" > "$WORK/moto.log" 2>&1 &
  BENCH_PIDS+=("$!")
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$MOTO_PORT") 2>/dev/null && break; sleep 0.1; done
  MOTO_AUTH='Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00'
  for b in ward-bench restic-bench; do
    curl -sf -X PUT -H "$MOTO_AUTH" "http://127.0.0.1:$MOTO_PORT/$b" >/dev/null
  done
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
}
requests() { grep -c '" [0-9][0-9][0-9] ' "$WORK/moto.log" || true; }
bucket_objects() {
  local token="" n=0 page
  while :; do
    page=$(curl -sf -H "$MOTO_AUTH" "http://127.0.0.1:$MOTO_PORT/$1?list-type=2&max-keys=1000${token:+&continuation-token=$token}")
    n=$((n + $(grep -o '<Key>' <<<"$page" | wc -l)))
    token=$(sed -n 's:.*<NextContinuationToken>\([^<]*\)</NextContinuationToken>.*:\1:p' <<<"$page" \
      | python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.stdin.read().strip(), safe=""))')
    [[ -z $token ]] && break
  done
  echo "$n"
}

# vault_on_moto ESTATE: points the example estate's store `vault` at moto's ward-bench
# bucket, with the credentials moto accepts in the estate's secret files.
vault_on_moto() {
  python3 - "$1/platform.yaml" "$MOTO_PORT" <<'PY'
import sys
path, port = sys.argv[1], sys.argv[2]
text = open(path).read()
old = "    - name: vault\n      type: local\n      path: vault\n"
new = (f"    - name: vault\n      type: s3\n      endpoint: http://127.0.0.1:{port}\n"
       "      bucket: ward-bench\n      region: us-east-1\n"
       "      credentials: { store: hospital-vault, key: platform/vault }\n")
assert old in text, "the example's vault store changed"
open(path, "w").write(text.replace(old, new))
PY
  mkdir -p "$1/.ward/secrets/hospital-vault/platform/vault"
  for part in access_key_id secret_access_key; do
    echo testing > "$1/.ward/secrets/hospital-vault/platform/vault/$part"
  done
}
