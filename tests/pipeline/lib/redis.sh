# shellcheck shell=bash
# Sourced by the sink.redis pipeline tests after common.sh: a real redis-server on
# 127.0.0.1 with an ephemeral port (DESIGN.md section 9), Pub/Sub subscribers, and cleanup.
#
#   redis_start [ARGS...]   starts a server (extra redis-server args), sets REDIS_PORT,
#                           REDIS_PID; waits until it answers PING
#   redis_restart [ARGS...] starts a server again on the same REDIS_PORT
#   redis_kill [SIGNAL]     signals the server (default KILL) and waits for it to exit
#   rcli ARGS...            redis-cli against the server
#   redis_subscribe CH FILE starts `redis-cli SUBSCRIBE CH` writing into FILE (raw output),
#                           returns once the server counts the subscriber
#   redis_sync_messages CH FILE  waits until FILE holds every message published so far
#   free_port               prints a free TCP port on 127.0.0.1
# Everything started here is stopped when the test exits.
command -v redis-server >/dev/null || fail "redis-server is not installed (scripts/install-deps.sh)"
MULT=${CF_TEST_TIMEOUT_MULT:-1}
REDIS_PIDS=()

redis_cleanup() {
    local p
    for p in "${REDIS_PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null || true
    done
    for p in "${REDIS_PIDS[@]}"; do
        { wait "$p"; } 2>/dev/null || true
    done
}
trap 'redis_cleanup; rm -rf "$T"' EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# Starts redis-server on REDIS_PORT (already set) with extra args; waits for PING.
_redis_launch() {
    mkdir -p "$T/redis"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        --daemonize no --dir "$T/redis" "$@" >>"$T/redis/server.log" 2>&1 &
    REDIS_PID=$!
    REDIS_PIDS+=("$REDIS_PID")
    local i
    for ((i = 0; i < 100 * MULT; i++)); do
        # PONG, or NOAUTH from a server started with --requirepass: it is up.
        if rcli ping 2>&1 | grep -Eq 'PONG|NOAUTH'; then
            return 0
        fi
        kill -0 "$REDIS_PID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

redis_start() {
    local try
    for ((try = 0; try < 5; try++)); do
        REDIS_PORT=$(free_port)
        if _redis_launch "$@"; then
            return 0
        fi
        kill -9 "$REDIS_PID" 2>/dev/null || true
        { wait "$REDIS_PID"; } 2>/dev/null || true
    done
    tail -5 "$T/redis/server.log" >&2
    fail "redis-server did not start"
}

redis_restart() {
    _redis_launch "$@" || { tail -5 "$T/redis/server.log" >&2; fail "redis-server did not restart on $REDIS_PORT"; }
}

redis_kill() {
    kill "-${1:-KILL}" "$REDIS_PID" 2>/dev/null || true
    { wait "$REDIS_PID"; } 2>/dev/null || true
}

redis_subscribe() {
    local ch=$1 file=$2 i
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" SUBSCRIBE "$ch" >"$file" 2>&1 &
    REDIS_PIDS+=("$!")
    for ((i = 0; i < 100 * MULT; i++)); do
        if [ "$(rcli pubsub numsub "$ch" | sed -n 2p)" -ge 1 ] 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    fail "subscriber to $ch did not register"
}

# Publishes a marker after everything the job published and waits for it: the server
# delivers one channel's messages in order, so FILE then holds every message of the job.
# In raw (non-tty) output a message is three lines: "message", the channel, the payload.
redis_sync_messages() {
    local ch=$1 file=$2 i
    rcli publish "$ch" __end_of_test__ >/dev/null
    for ((i = 0; i < 200 * MULT; i++)); do
        grep -qx __end_of_test__ "$file" && return 0
        sleep 0.05
    done
    fail "the end marker never reached the subscriber of $ch"
}
