#!/usr/bin/env bash
# sink.redis keeps writing through a Redis outage: the server is killed (SIGKILL) in the
# middle of a rate-limited job and restarted a second later on the same port; the sink
# subtasks reconnect with backoff, resend every command that had no reply, and the job
# finishes with every row's key present and exact. Then the server is frozen (SIGSTOP)
# for longer than io_timeout: reads time out, the sink reconnects until it thaws, and
# again nothing is lost. Last, a Lua script keeps Redis busy: it answers BUSY (retried,
# with backoff, after draining the replies of the pipeline) until the script is killed.
# The server runs with appendfsync always, so a write Redis acknowledged survives the kill:
# a key missing afterwards could only be one the sink wrongly took as written.
source "$(dirname "$0")/lib/common.sh"
source "$LIB/redis.sh"
DATA=$TOP/examples/data/queries.jsonl
python3 "$LIB/redis_ref.py" rows "$DATA" >"$T/expected.jsonl"
AOF=(--appendonly yes --appendfsync always)
redis_start "${AOF[@]}" --busy-reply-threshold 100
cat >"$T/job.json" <<JOB
{"name": "redis-restart", "parallelism": 2, "operators": [
  {"id": "queries", "type": "source.file", "parallelism": 1, "path": "$DATA", "rate": 1000,
   "batch_rows": 50,
   "schema": {"query_id": "string", "identifier": "string", "user_type": "string",
              "department": "string", "year": "int", "status": "string",
              "response_ms": "int", "ts": "timestamp"}},
  {"id": "to-redis", "type": "sink.redis", "address": "127.0.0.1:$REDIS_PORT",
   "key": "row:{query_id}", "io_timeout": "1s", "reconnect_timeout": "60s"}
]}
JOB

# run_with_outage NAME ACTION...: starts the job, runs the outage ACTION once 800 rows are
# in, waits for the job and checks that Redis holds exactly the expected rows.
run_with_outage() {
    local name=$1
    shift
    rcli flushall >/dev/null
    "$CFCTL" local "$T/job.json" >"$T/$name.out" 2>"$T/$name.err" &
    local job_pid=$! i
    # About a third of the rows in (the source reads 1000 rows/s): the outage starts.
    for ((i = 0; i < 200 * MULT; i++)); do
        [ "$(rcli dbsize)" -ge 800 ] && break
        sleep 0.05
    done
    [ "$(rcli dbsize)" -ge 800 ] || fail "$name: the job did not get going"
    "$@"
    wait "$job_pid" || { tail -20 "$T/$name.err" >&2; fail "$name: the job failed"; }
    python3 "$LIB/redis_dump.py" "$REDIS_PORT" 'row:*' >"$T/got-$name.jsonl"
    python3 "$LIB/redis_check.py" "$T/expected.jsonl" "$T/got-$name.jsonl" >"$T/check" ||
        { tail -20 "$T/$name.err" >&2; fail "$name: keys missing or wrong"; }
}

kill_and_restart() {
    before=$(rcli dbsize)
    redis_kill KILL
    sleep 1
    redis_restart "${AOF[@]}" --busy-reply-threshold 100
}
run_with_outage killed kill_and_restart
grep -q "reconnected to Redis at 127.0.0.1:$REDIS_PORT" "$T/killed.err" ||
    fail "killed: no reconnect logged"
[ "$before" -lt 3000 ] || fail "the job had finished before the kill"
pass "SIGKILL after $before of 3000 rows, restart 1 s later: $(cat "$T/check")"

freeze() {
    before=$(rcli dbsize)
    kill -STOP "$REDIS_PID"
    sleep 2.5
    kill -CONT "$REDIS_PID"
}
run_with_outage frozen freeze
grep -q "connection to Redis at 127.0.0.1:$REDIS_PORT lost (no reply within io_timeout (1s))" \
    "$T/frozen.err" || fail "frozen: the timeout was not noticed"
pass "SIGSTOP for 2.5 s (io_timeout 1 s) after $before rows: $(cat "$T/check")"

busy() {
    before=$(rcli dbsize)
    rcli eval 'while true do end' 0 >/dev/null 2>&1 &
    local script=$!
    sleep 2
    rcli script kill >/dev/null
    { wait "$script"; } 2>/dev/null || true
}
run_with_outage busy busy
grep -q "Redis at 127.0.0.1:$REDIS_PORT answered \"BUSY" "$T/busy.err" ||
    fail "busy: no BUSY reply seen"
pass "BUSY for 2 s after $before rows: $(cat "$T/check")"
