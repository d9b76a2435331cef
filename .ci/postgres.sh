#!/usr/bin/env bash
# A PostgreSQL server for the tests: installs Debian's package if it is missing, creates a
# cluster of its own (not Debian's "main"), starts it on 127.0.0.1:${BATON_PG_PORT:-54329} and
# creates the superuser role baton/baton and the database baton. Idempotent: a server that
# already answers on the port is left as it is. Progress goes to stderr; the one line on stdout
# is the URL to put in BATON_TEST_POSTGRES_URL.
#
#   bash .ci/postgres.sh            install if needed, start, print the URL
#   bash .ci/postgres.sh stop       stop the server this script started
#
# fsync stays on (the default): the tests and the measurements see real durable commits.
set -euo pipefail

PORT="${BATON_PG_PORT:-54329}"
DATA="${BATON_PG_DATA:-/var/tmp/baton-pg/data}"
SOCKET_DIR=/tmp
ROLE=baton
PASSWORD=baton
DATABASE=baton
URL="postgres://${ROLE}:${PASSWORD}@127.0.0.1:${PORT}/${DATABASE}"

log() { echo "postgres.sh: $*" >&2; }

# initdb refuses to run as root: as root the cluster belongs to the postgres OS user.
if [ "$(id -u)" -eq 0 ]; then
  OWNER=postgres
  as_owner() { runuser -u postgres -- "$@"; }
else
  OWNER="$(id -un)"
  as_owner() { "$@"; }
fi

find_bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$dir" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/initdb" ]; then echo "$dir"; fi
}

install_server() {
  if [ "$(id -u)" -ne 0 ]; then
    log "PostgreSQL is not installed and this is not root: run 'apt-get install -y postgresql' as root"
    exit 1
  fi
  log "installing PostgreSQL from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
}

# One run at a time: test workers may call this concurrently on a machine where nothing is set up.
mkdir -p "$(dirname "$DATA")"
exec 9>"$(dirname "$DATA")/setup.lock"
flock 9

BINDIR="$(find_bindir)"
if [ -z "$BINDIR" ]; then
  install_server
  BINDIR="$(find_bindir)"
  [ -n "$BINDIR" ] || { log "PostgreSQL installed, but no /usr/lib/postgresql/*/bin/pg_ctl was found"; exit 1; }
fi

if [ "${1:-}" = "stop" ]; then
  if as_owner "$BINDIR/pg_ctl" status -D "$DATA" >/dev/null 2>&1; then
    as_owner "$BINDIR/pg_ctl" stop -D "$DATA" -m fast -w >&2
  fi
  exit 0
fi

is_ready() { "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PORT"; }

if is_ready; then
  log "a server already answers on 127.0.0.1:$PORT"
else
  if [ ! -s "$DATA/PG_VERSION" ]; then
    log "creating a cluster in $DATA"
    rm -rf "$DATA"
    mkdir -p "$DATA"
    chown "$OWNER" "$DATA" "$(dirname "$DATA")"
    chmod 700 "$DATA"
    # Local (socket) connections: only the OS owner, as the cluster's superuser.
    # TCP: passwords (scram-sha-256), which is how the tests connect.
    as_owner "$BINDIR/initdb" -D "$DATA" --username="$OWNER" --auth-local=peer \
      --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >&2
  fi
  log "starting PostgreSQL ($BINDIR) on 127.0.0.1:$PORT"
  # -w waits until the server accepts connections; the log stays beside the data directory.
  # The server outlives this script: it must inherit no descriptor but 0-2 (not the lock on fd 9,
  # nor a pipe of whoever runs us, which would then wait for its end forever).
  (
    for fd in /proc/self/fd/*; do
      fd="${fd##*/}"
      if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec </dev/null
    as_owner "$BINDIR/pg_ctl" start -D "$DATA" -w -t 60 -l "$(dirname "$DATA")/server.log" \
      -o "-p $PORT -k $SOCKET_DIR -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200"
  ) >&2
  for _ in $(seq 1 60); do
    is_ready && break
    sleep 0.5
  done
  is_ready || { log "the server did not become ready; see $(dirname "$DATA")/server.log"; exit 1; }
fi

# The role and the database, unless they exist already (a server started by an earlier run).
psql_owner() {
  as_owner "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$PORT" \
    -U "$OWNER" -d postgres "$@"
}
if [ -S "$SOCKET_DIR/.s.PGSQL.$PORT" ] && psql_owner -c "SELECT 1" >/dev/null 2>&1; then
  psql_owner >&2 <<SQL
SELECT format('CREATE ROLE %I LOGIN SUPERUSER PASSWORD %L', '$ROLE', '$PASSWORD')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$DATABASE', '$ROLE')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DATABASE') \gexec
SQL
else
  log "cannot reach the server as $OWNER over $SOCKET_DIR; assuming role $ROLE and database $DATABASE exist"
fi

if ! PGPASSWORD="$PASSWORD" "$BINDIR/psql" -X -q -h 127.0.0.1 -p "$PORT" -U "$ROLE" \
  -d "$DATABASE" -c "SELECT 1" >/dev/null; then
  log "cannot connect as $URL"
  exit 1
fi
log "ready"
echo "$URL"
