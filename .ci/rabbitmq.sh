#!/usr/bin/env bash
# A RabbitMQ broker for the tests: installs Debian's rabbitmq-server if it is missing, starts a
# node of its own (not the system one: its own node name, data and log directories, AMQP port
# 127.0.0.1:${BATON_AMQP_PORT:-56729}, distribution port ${BATON_AMQP_DIST_PORT:-56730}) and waits
# until it accepts AMQP connections. Idempotent: a broker already answering on the port is left as
# it is. Progress goes to stderr; the one line on stdout is the URL to put in BATON_TEST_AMQP_URL.
#
#   bash .ci/rabbitmq.sh            install if needed, start, print the URL
#   bash .ci/rabbitmq.sh node       print the node name (for rabbitmqctl -n NODE stop_app/start_app)
#   bash .ci/rabbitmq.sh stop       stop the broker this script started
#
# The tests restart the broker's application with `rabbitmqctl -n NODE stop_app` / `start_app`
# (as root in CI: Debian's wrapper runs it as the rabbitmq user, who owns the node's cookie).
set -euo pipefail

PORT="${BATON_AMQP_PORT:-56729}"
DIST_PORT="${BATON_AMQP_DIST_PORT:-56730}"
BASE="${BATON_AMQP_BASE:-/var/tmp/baton-rabbitmq}"
NODE="${BATON_AMQP_NODE:-baton-test@localhost}"
# The default guest/guest account, which RabbitMQ allows from localhost only.
URL="amqp://guest:guest@127.0.0.1:${PORT}"

log() { echo "rabbitmq.sh: $*" >&2; }

if [ "${1:-}" = "node" ]; then
  echo "$NODE"
  exit 0
fi

install_server() {
  if [ "$(id -u)" -ne 0 ]; then
    log "RabbitMQ is not installed and this is not root: run 'apt-get install -y rabbitmq-server' as root"
    exit 1
  fi
  log "installing RabbitMQ from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # The package's postinst starts the system broker (on 5672) where an init system runs; ours
  # is a separate node and does not care.
  apt-get install -y -qq --no-install-recommends rabbitmq-server >&2
}

# One run at a time: test workers may call this concurrently on a machine where nothing is set up.
mkdir -p "$BASE"
exec 9>"$BASE/setup.lock"
flock 9

if ! command -v rabbitmq-server >/dev/null || ! command -v rabbitmqctl >/dev/null; then
  install_server
fi
export PATH="$PATH:/usr/lib/rabbitmq/bin:/usr/sbin"

# What every rabbitmq command of ours runs with: our node, our directories, our ports.
export RABBITMQ_NODENAME="$NODE"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT="$PORT"
export RABBITMQ_DIST_PORT="$DIST_PORT"
export RABBITMQ_MNESIA_BASE="$BASE/mnesia"
export RABBITMQ_LOG_BASE="$BASE/log"
export RABBITMQ_PID_FILE="$BASE/$NODE.pid"
export RABBITMQ_ENABLED_PLUGINS_FILE="$BASE/enabled_plugins"
export RABBITMQ_CONFIG_FILE="$BASE/rabbitmq"
# No management plugin: nothing but AMQP is needed, and it starts faster.
[ -f "$RABBITMQ_ENABLED_PLUGINS_FILE" ] || echo "[]." >"$RABBITMQ_ENABLED_PLUGINS_FILE"
[ -f "$RABBITMQ_CONFIG_FILE.conf" ] || cat >"$RABBITMQ_CONFIG_FILE.conf" <<CONF
listeners.tcp.default = $PORT
loopback_users.guest = true
# A test machine's disk may be nearly full; the default 50 MB limit would block publishers.
disk_free_limit.absolute = 1MB
CONF
mkdir -p "$RABBITMQ_MNESIA_BASE" "$RABBITMQ_LOG_BASE"
# Debian's wrappers (/usr/sbin/rabbitmq-server, rabbitmqctl) run as root switch to the rabbitmq
# user, keeping these variables: the node's files belong to that user, and rabbitmqctl run by
# root reaches the node with that user's Erlang cookie.
if [ "$(id -u)" -eq 0 ] && id -u rabbitmq >/dev/null 2>&1; then
  chown -R rabbitmq "$BASE"
fi

if [ "${1:-}" = "stop" ]; then
  rabbitmqctl -n "$NODE" stop >&2 2>/dev/null || true
  exit 0
fi

is_ready() {
  # The application is up and AMQP answers (not merely the Erlang node).
  rabbitmqctl -n "$NODE" -q await_online_nodes 1 -t 2 >/dev/null 2>&1 &&
    rabbitmqctl -n "$NODE" -q status >/dev/null 2>&1 &&
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

node_running() { rabbitmqctl -n "$NODE" -q ping >/dev/null 2>&1; }

if is_ready; then
  log "a broker already answers on 127.0.0.1:$PORT"
else
  if node_running; then
    # The node is up but its application is stopped (a test's stop_app that never got its start_app).
    log "node $NODE is up with its application stopped: starting it"
    rabbitmqctl -n "$NODE" start_app >&2
  else
    log "starting RabbitMQ node $NODE on 127.0.0.1:$PORT (data in $BASE)"
    # The broker outlives this script: it must inherit no descriptor but 0-2 (not the lock on
    # fd 9, nor a pipe of whoever runs us, which would then wait for its end forever).
    (
      for fd in /proc/self/fd/*; do
        fd="${fd##*/}"
        if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
      done
      exec </dev/null >>"$BASE/server.out" 2>&1
      rabbitmq-server -detached
    )
  fi
  for _ in $(seq 1 120); do
    is_ready && break
    sleep 0.5 # a bounded wait for the node to boot (usually 3–10 s)
  done
  is_ready || {
    log "the broker did not become ready; see $BASE/log and $BASE/server.out"
    exit 1
  }
fi
log "ready"
echo "$URL"
