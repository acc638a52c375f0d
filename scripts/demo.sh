#!/usr/bin/env bash
# The README's main job on the example estate, end to end, on a fresh machine that has the
# PostgreSQL server binaries: build ward, `ward init` an estate, validate, classify, start a
# throwaway PostgreSQL, create a small Odoo-shaped database and filestore, back it up,
# list, verify every byte, restore it into a new database, compare row counts, run a timed
# restore drill, clean up.
#
# Usage: scripts/demo.sh            (exits non-zero on any failure)
# Env:   WARD_PG_BINDIR  folder of initdb/pg_ctl/psql/pg_dump/pg_restore
#        DEMO_KEEP=1     keep the temporary folders (printed at the end)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -t 1 ]]; then
  step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
else
  step() { printf '\n==> %s\n' "$*"; }
fi
die() { echo "demo: $*" >&2; exit 1; }

# --- PostgreSQL binaries ---------------------------------------------------------------
find_bindir() {
  if [[ -n "${WARD_PG_BINDIR:-}" ]]; then echo "$WARD_PG_BINDIR"; return; fi
  if command -v pg_config >/dev/null && [[ -x "$(pg_config --bindir)/initdb" ]]; then
    pg_config --bindir; return
  fi
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [[ -n "$newest" && -x "$newest/initdb" ]]; then echo "$newest"; return; fi
  local initdb
  initdb=$(command -v initdb || true)
  [[ -n "$initdb" ]] && { dirname "$initdb"; return; }
  die "PostgreSQL server binaries (initdb, pg_ctl) not found: install the postgresql package or set WARD_PG_BINDIR"
}
PGBIN=$(find_bindir)
export WARD_PG_BINDIR=$PGBIN
for tool in initdb pg_ctl psql pg_dump pg_restore; do
  [[ -x "$PGBIN/$tool" ]] || die "$PGBIN/$tool is missing"
done

# --- Build --------------------------------------------------------------------------------
step "Building ward (release)"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p ward-cli
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p ward-vault --example odoo-fixture
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
WARD=$TARGET_DIR/release/ward
FIXTURE=$TARGET_DIR/release/examples/odoo-fixture
[[ -x "$WARD" && -x "$FIXTURE" ]] || die "build products missing under $TARGET_DIR/release"

# --- Temporary folders and cleanup ----------------------------------------------------------
WORK=$(mktemp -d /tmp/ward-demo.XXXXXX)
PGROOT=$(mktemp -d /tmp/ward-demo-pg.XXXXXX)
PGDATA=$PGROOT/data
PGSOCK=$PGROOT/sock
mkdir -p "$PGSOCK"
AS=()
if [[ $(id -u) == 0 ]]; then
  # initdb refuses to run as root: the server runs as nobody.
  chown -R nobody "$PGROOT"
  AS=(runuser -u nobody --)
fi
server_started=0
SERVE_PID=
cleanup() {
  local rc=$?
  if [[ -n "$SERVE_PID" ]]; then kill -KILL "$SERVE_PID" 2>/dev/null || true; fi
  if [[ $server_started == 1 ]]; then
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [[ "${DEMO_KEEP:-}" == 1 ]]; then
    echo "kept: $WORK $PGROOT"
  else
    rm -rf "$WORK" "$PGROOT"
  fi
  if [[ $rc != 0 ]]; then echo "demo FAILED (exit $rc)" >&2; fi
  exit $rc
}
trap cleanup EXIT

# --- The estate -----------------------------------------------------------------------------
ESTATE=$WORK/care
export WARD_ACTOR=bob NO_COLOR=1
unset WARD_STATE WARD_ESTATE WARD_IDENTITY
# billing/prod backs up to the example's S3 store with object lock (`care-backups`, which
# this machine cannot reach); the demo sends its backups to the example's local folder
# store `vault` (in the state folder) instead, as `--object-store vault` would.
export WARD_OBJECT_STORE=vault
step "ward init $ESTATE --example healthcare"
"$WARD" init "$ESTATE" --example healthcare
step "ward validate"
"$WARD" --estate "$ESTATE" validate
step "ward classify"
"$WARD" --estate "$ESTATE" classify

# --- A throwaway PostgreSQL with an Odoo-shaped database --------------------------------------
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  die "no free TCP port found"
}
PORT=$(free_port)
PGPASSWORD=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
export PGPASSWORD   # ward reads the password from here, never from the command line
PWFILE=$PGROOT/pw
printf '%s\n' "$PGPASSWORD" > "$PWFILE"
[[ ${#AS[@]} -gt 0 ]] && chown nobody "$PWFILE"
step "Starting a throwaway PostgreSQL on 127.0.0.1:$PORT"
"${AS[@]}" "$PGBIN/initdb" -D "$PGDATA" -U postgres --pwfile="$PWFILE" \
  --auth-local=trust --auth-host=scram-sha-256 >/dev/null
rm -f "$PWFILE"
"${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGROOT/server.log" -w \
  -o "-p $PORT -k $PGSOCK -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
server_started=1
psql_db() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGSOCK" -p "$PORT" -U postgres -d "$1" -At -c "$2"; }
psql_db postgres "CREATE DATABASE billing"
# billing/prod's own role: a restore hands the restored database and its objects to it.
psql_db postgres "CREATE ROLE billing LOGIN"

DATA=$WORK/odoo-data
FILESTORE=$DATA/filestore/billing
step "Creating a small Odoo-shaped database (billing) and its filestore"
"$FIXTURE" --db-url "postgres://postgres:$PGPASSWORD@127.0.0.1:$PORT/billing" \
  --filestore "$FILESTORE" --partners 2000 --attachments 200 --max-blob 65536 >/dev/null
echo "  $(find "$FILESTORE" -type f | wc -l) files in $FILESTORE"

# --- Backup, list, verify, restore -----------------------------------------------------------
# The throwaway server has no certificate, and billing/prod holds PHI, whose default is
# sslmode=verify-full (docs/vault.md, "TLS to PostgreSQL"): this local, ad-hoc use asks for
# `prefer` explicitly, as a person would for such a server.
DB_URL="postgres://postgres@127.0.0.1:$PORT/billing?sslmode=prefer"
ADMIN_URL="postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=prefer"
step "ward backup run billing/prod"
"$WARD" --estate "$ESTATE" backup run billing/prod --db-url "$DB_URL" --filestore "$FILESTORE"
step "ward backup list (no key needed)"
"$WARD" --estate "$ESTATE" backup list
ID=$("$WARD" --estate "$ESTATE" backup list billing/prod -o json \
  | sed -n 's/^ *"id": "\([^"]*\)".*/\1/p' | tail -1)
[[ -n "$ID" ]] || die "no snapshot listed"
step "ward backup verify $ID --read-data"
"$WARD" --estate "$ESTATE" backup verify "$ID" --read-data
step "ward restore $ID --to-db billing_restored"
"$WARD" --estate "$ESTATE" restore "$ID" --to-db billing_restored \
  --filestore "$WORK/restored-data" --db-url "$ADMIN_URL"

step "Row counts: original vs restored"
mismatch=0
printf '  %-22s %10s %10s\n' table billing billing_restored
for t in ir_attachment ir_config_parameter ir_cron ir_mail_server ir_module_module res_partner res_users; do
  a=$(psql_db billing "SELECT count(*) FROM $t")
  b=$(psql_db billing_restored "SELECT count(*) FROM $t")
  printf '  %-22s %10s %10s\n' "$t" "$a" "$b"
  [[ "$a" == "$b" ]] || mismatch=1
done
orig_files=$(cd "$FILESTORE" && find . -type f | sort | sha1sum)
# Ward marks a filestore it restored (.ward-restored), so that --replace never removes
# anything else; every other file is the original's.
[[ -f "$WORK/restored-data/filestore/billing_restored/.ward-restored" ]] || die "the restored filestore has no .ward-restored marker"
rest_files=$(cd "$WORK/restored-data/filestore/billing_restored" && find . -type f ! -name .ward-restored | sort | sha1sum)
[[ "$orig_files" == "$rest_files" ]] || die "the restored filestore has other files than the original"
[[ $mismatch == 0 ]] || die "row counts differ"

step "ward drill billing/prod (a timed restore into a scratch database, checked, then dropped)"
"$WARD" --estate "$ESTATE" drill billing/prod \
  --db-url "$ADMIN_URL" --scratch-dir "$WORK"

step "ward audit log / verify"
"$WARD" --estate "$ESTATE" audit log
"$WARD" --estate "$ESTATE" audit verify

# --- ward serve: the same work on a schedule, with nobody typing ------------------------------
# billing/prod's database and filestore are declared in the estate (committed, as the server
# follows the estate's Git branch); the password stays in PGPASSWORD, never in a file here.
step "ward serve (embedded SQLite store): a scheduled backup of billing/prod by itself"
sed -i "s|^        passwordRef: { store: hospital-vault, key: odoo/billing/prod, property: db_password }|        host: 127.0.0.1\n        port: $PORT\n        name: billing\n        user: postgres\n        sslmode: prefer\n        passwordRef: { store: hospital-vault, key: odoo/billing/prod, property: db_password }\n      filestore: $FILESTORE|" \
  "$ESTATE/workloads/billing.yaml"
git -C "$ESTATE" -c user.name=bob -c user.email=bob@care.example commit -qam "billing/prod: the demo's database and filestore"
TOKEN=$("$WARD" --estate "$ESTATE" token create --subject bob --role dba --expires 1h 2>/dev/null)
SPORT=$(free_port)
API="http://127.0.0.1:$SPORT"
"$WARD" --estate "$ESTATE" serve --listen "127.0.0.1:$SPORT" --schedule-only billing/prod \
  --workers 1 --poll-interval 2s > "$WORK/serve.log" 2>&1 &
SERVE_PID=$!
api() { curl -fsS -H "Authorization: Bearer $TOKEN" "$API$1"; }
for _ in $(seq 1 120); do
  if api "/api/v1/runs?kind=backup&environment=billing/prod&state=succeeded" 2>/dev/null | grep -q '"trigger":"scheduled"'; then
    break
  fi
  kill -0 "$SERVE_PID" 2>/dev/null || { cat "$WORK/serve.log"; die "ward serve exited"; }
  sleep 1
done
RUN=$(api "/api/v1/runs?kind=backup&environment=billing/prod&state=succeeded&limit=1")
echo "$RUN" | grep -q '"trigger":"scheduled"' || { cat "$WORK/serve.log"; die "no scheduled backup succeeded within 2 minutes"; }
echo "  GET /api/v1/runs?kind=backup&environment=billing/prod&state=succeeded&limit=1"
echo "$RUN" | python3 -c 'import json,sys; r=json.load(sys.stdin); run=r["runs"][0]; print("  estate commit", r["commit"][:12]); print("  run %d: %s %s (%s, requested by %s), snapshot %s, ledger seq %s" % (run["id"], run["kind"], run["state"], run["trigger"], run["requestedBy"], run["result"]["snapshot"]["id"], run["ledgerSeq"]))'
step "Stopping ward serve (SIGTERM: running jobs finish, the rest is handed back)"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" || die "ward serve did not stop cleanly"
SERVE_PID=
grep "^ward serve:" "$WORK/serve.log"
"$WARD" --estate "$ESTATE" audit verify --store
step "Demo passed: backed up, verified, restored and drilled billing/prod, then ward serve did a scheduled backup by itself"
