# Sourced by integration tests: real cf-coordinator / cf-worker processes on 127.0.0.1 with
# ephemeral ports, killed on exit.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${CF_BIN:-$TOP/bin}
T=$(mktemp -d "${TMPDIR:-/tmp}/cf-integration.XXXXXX")
PIDS=()
cleanup() {
    [ -n "${KEEP:-}" ] && { echo "kept $T" >&2; for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; return; }
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$T"/*.err; do echo "== $f" >&2; tail -5 "$f" >&2; done; exit 1; }
pass() { echo "ok: $*"; }

# start_coordinator NAME [flags...]: sets REST and RPC (host:port) from its first line.
start_coordinator() {
    local name=$1; shift
    "$BIN/cf-coordinator" --rest-port "${REST_PORT:-0}" --rpc-port "${RPC_PORT:-0}" \
        --data-dir "$T/$name-data" "$@" 2>"$T/$name.err" &
    PIDS+=($!); COORD_PID=$!
    for _ in $(seq 100); do grep -q 'REST API on' "$T/$name.err" && break; sleep 0.05; done
    REST=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/$name.err" | head -1) || fail "coordinator did not start"
    RPC=$(grep -o 'RPC on [0-9.:]*' "$T/$name.err" | head -1 | cut -d' ' -f3)
}

# start_worker NAME SLOTS: sets WORKER_PID.
start_worker() {
    "$BIN/cf-worker" --coordinator "$RPC" --slots "$2" --data-port 0 --rpc-port 0 2>"$T/$1.err" &
    PIDS+=($!); WORKER_PID=$!
}

# start_workers N SLOTS: workers w1..wN (pids in W[1..N]), waits until all registered.
W=()
start_workers() {
    for k in $(seq "$1"); do
        start_worker "w$k" "$2"; W[$k]=$WORKER_PID
    done
    wait_for 10 field_is "$REST/overview" 'd["taskmanagers"]' "$1" || fail "workers did not register"
}

# json URL PYEXPR: evaluates PYEXPR with `d` = the decoded body; prints the result.
json() {
    python3 -c 'import json,sys,urllib.request; d=json.load(urllib.request.urlopen(sys.argv[1], timeout=5)); print(eval(sys.argv[2]))' "$1" "$2"
}

# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}

# field_is URL PYEXPR VALUE: the expression's current value equals VALUE (for wait_for).
field_is() {
    [ "$(json "$1" "$2" 2>/dev/null)" = "$3" ]
}
