# Throwaway PostgreSQL for the vault benchmarks (sourced through bench/vault/common.sh):
# initdb in a temporary folder, a free port on 127.0.0.1, the socket inside the folder; as
# root the server runs as `nobody` (initdb refuses root), the way crates/ward-pgtemp does it.
#
# Sets PGBIN, PGROOT, PGPORT, PGSOCK, PGPASSWORD; defines start_pg, stop_pg, psql_db.

find_pg_bindir() {
  if [[ -n "${WARD_PG_BINDIR:-}" ]]; then echo "$WARD_PG_BINDIR"; return; fi
  if command -v pg_config >/dev/null && [[ -x "$(pg_config --bindir)/initdb" ]]; then
    pg_config --bindir; return
  fi
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [[ -n "$newest" && -x "$newest/initdb" ]]; then echo "$newest"; return; fi
  echo "PostgreSQL server binaries not found: install postgresql or set WARD_PG_BINDIR" >&2
  return 1
}

free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free TCP port" >&2
  return 1
}

PG_AS=()
PG_STARTED=0

start_pg() {
  PGBIN=$(find_pg_bindir)
  export WARD_PG_BINDIR=$PGBIN
  PGROOT=$(mktemp -d "${1:-/tmp}/ward-pg.XXXXXX")
  PGSOCK=$PGROOT/sock
  mkdir -p "$PGSOCK"
  if [[ $(id -u) == 0 ]]; then
    chown -R nobody "$PGROOT"
    PG_AS=(runuser -u nobody --)
  fi
  PGPORT=$(free_port)
  PGPASSWORD=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  export PGPASSWORD
  printf '%s\n' "$PGPASSWORD" > "$PGROOT/pw"
  [[ ${#PG_AS[@]} -gt 0 ]] && chown nobody "$PGROOT/pw"
  "${PG_AS[@]}" "$PGBIN/initdb" -D "$PGROOT/data" -U postgres --pwfile="$PGROOT/pw" \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$PGROOT/pw"
  "${PG_AS[@]}" "$PGBIN/pg_ctl" -D "$PGROOT/data" -l "$PGROOT/server.log" -w \
    -o "-p $PGPORT -k $PGSOCK -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=256MB -c max_wal_size=4GB" \
    start >/dev/null
  PG_STARTED=1
}

stop_pg() {
  if [[ $PG_STARTED == 1 ]]; then
    "${PG_AS[@]}" "$PGBIN/pg_ctl" -D "$PGROOT/data" -m fast -w stop >/dev/null 2>&1 || true
    PG_STARTED=0
  fi
  [[ -n "${PGROOT:-}" ]] && rm -rf "$PGROOT"
}

psql_db() {
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGSOCK" -p "$PGPORT" -U postgres -d "$1" -At -c "$2"
}
