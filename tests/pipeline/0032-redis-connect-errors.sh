#!/usr/bin/env bash
# sink.redis when Redis is not there or says no: a server that is down at start fails the
# job (exit 1, no crash) after connect_timeout with a message naming the address; a server
# that comes up within connect_timeout is waited for; a wrong password fails at once without
# printing the password, the right one (plain or user:password) works; an error reply that
# retrying cannot fix (WRONGTYPE) fails the job naming the command and the key.
source "$(dirname "$0")/lib/common.sh"
source "$LIB/redis.sh"
DATA=$TOP/examples/data/queries.jsonl
job() { # job ADDRESS EXTRA_SINK_KEYS
    cat >"$T/job.json" <<JOB
{"name": "redis-connect", "parallelism": 1, "operators": [
  {"id": "queries", "type": "source.file", "path": "$DATA",
   "schema": {"query_id": "string", "user_type": "string", "response_ms": "int"}},
  {"id": "to-redis", "type": "sink.redis", "address": "$1", "key": "q:{query_id}"$2}
]}
JOB
}
no_crash() {
    ! grep -Eq "Sanitizer|runtime error|Segmentation|Aborted|core dumped" "$T/stderr" ||
        { cat "$T/stderr" >&2; fail "$1: crashed"; }
}

# Down at start: nothing listens on the port.
port=$(free_port)
job "127.0.0.1:$port" ', "connect_timeout": "2s"'
start=$(date +%s%N)
expect_exit 1 "$CFCTL" local "$T/job.json"
ms=$((($(date +%s%N) - start) / 1000000))
no_crash "down at start"
grep -q "cannot connect to Redis at 127.0.0.1:$port: Connection refused (gave up after 2s" \
    "$T/stderr" || { cat "$T/stderr" >&2; fail "no clear message naming the address"; }
grep -q "see connect_timeout" "$T/stderr" || fail "message does not name connect_timeout"
if [ "$ms" -lt 1900 ] || [ "$ms" -ge $((10000 * MULT)) ]; then
    fail "gave up after $ms ms, expected ~2 s"
fi
pass "down at start: exit 1 after $ms ms naming 127.0.0.1:$port"

# Up late: the job waits for the server (backoff), then writes everything.
REDIS_PORT=$(free_port)
job "127.0.0.1:$REDIS_PORT" ', "connect_timeout": "30s"'
"$CFCTL" local "$T/job.json" >"$T/late.out" 2>"$T/late.err" &
job_pid=$!
sleep 1.5
redis_restart
wait "$job_pid" || { cat "$T/late.err" >&2; fail "job failed although Redis came up in time"; }
[ "$(rcli dbsize)" = 3000 ] || fail "expected 3000 keys after a late start, got $(rcli dbsize)"
grep -q "cannot connect to Redis at 127.0.0.1:$REDIS_PORT: Connection refused; retrying" \
    "$T/late.err" || fail "no retry warning"
pass "up 1.5 s late: waited, 3000 keys written"
redis_kill

# Passwords.
redis_start --requirepass s3cret-pw
job "redis://:wrong-pw@127.0.0.1:$REDIS_PORT" ''
start=$(date +%s%N)
expect_exit 1 "$CFCTL" local "$T/job.json"
ms=$((($(date +%s%N) - start) / 1000000))
no_crash "wrong password"
grep -q "Redis at 127.0.0.1:$REDIS_PORT refused AUTH" "$T/stderr" ||
    { cat "$T/stderr" >&2; fail "no AUTH message"; }
! grep -q "wrong-pw" "$T/stderr" "$T/stdout" || fail "the password was printed"
[ "$ms" -lt $((5000 * MULT)) ] || fail "a wrong password took $ms ms to fail (retried?)"
job "redis://:s3cret-pw@127.0.0.1:$REDIS_PORT/2" ''
expect_exit 0 "$CFCTL" local "$T/job.json"
[ "$(rcli -a s3cret-pw --no-auth-warning -n 2 dbsize)" = 3000 ] || fail "password: keys missing"
job "redis://default:s3cret-pw@127.0.0.1:$REDIS_PORT" ''
expect_exit 0 "$CFCTL" local "$T/job.json"
[ "$(rcli -a s3cret-pw --no-auth-warning dbsize)" = 3000 ] || fail "user:password: keys missing"
! grep -q "s3cret-pw" "$T/stderr" "$T/stdout" || fail "the password was printed"
pass "wrong password fails in $ms ms without printing it; password and user:password work"
redis_kill

# An error reply retrying cannot fix.
redis_start
rcli rpush q:q00007 x >/dev/null
job "127.0.0.1:$REDIS_PORT" ', "mode": "hset"'
expect_exit 1 "$CFCTL" local "$T/job.json"
no_crash "WRONGTYPE"
grep -q "Redis at 127.0.0.1:$REDIS_PORT refused HSET 'q:q00007': WRONGTYPE" "$T/stderr" ||
    { cat "$T/stderr" >&2; fail "no WRONGTYPE message naming the key"; }
pass "WRONGTYPE fails the job naming HSET and the key"
