#!/usr/bin/env bash
# restart: fixed_delay. A job spread over two workers loses one: its attempt fails, and it
# restarts from scratch on the slots that remain (RESTARTING, then RUNNING again with a new
# attempt); then it is canceled. (With strategy none the loss ends the job FAILED: 0002.)
source "$(dirname "$0")/lib.sh"
CFCTL=$BIN/cfctl
start_coordinator coord --heartbeat-interval 200ms --heartbeat-timeout 2s
start_workers 2 2
cat >"$T/job.json" <<JOB
{"name": "resilient", "parallelism": 2,
 "restart": {"strategy": "fixed_delay", "attempts": 2, "delay": "500ms"},
 "operators": [
  {"id": "clicks", "type": "source.datagen", "rate": 500},
  {"id": "out", "type": "sink.file", "path": "$T/out"}
]}
JOB
"$CFCTL" -m "$REST" run "$T/job.json" >"$T/run.out" 2>&1 || fail "run: $(cat "$T/run.out")"
jid=$(grep -o 'JobID [0-9a-f]*' "$T/run.out" | cut -d' ' -f2)
wait_for 10 field_is "$REST/jobs/$jid" 'd["state"]' RUNNING || fail "not RUNNING"
grep -q "deployed on 2 workers" "$T/coord.err" || fail "the job should use both workers"
kill -9 "${W[1]}"
wait_for 10 grep -q "restarting (attempt 2)" "$T/coord.err" || fail "no restart"
wait_for 10 grep -q "attempt 2 deployed on 1 workers" "$T/coord.err" || fail "not redeployed on the remaining worker"
wait_for 5 field_is "$REST/jobs/$jid" 'd["state"]' RUNNING || fail "not RUNNING after the restart"
"$CFCTL" -m "$REST" cancel "$jid" >/dev/null 2>&1 || fail "cancel after restart"
[ "$(json "$REST/jobs/$jid" 'd["state"]')" = CANCELED ] || fail "not CANCELED"
pass "fixed_delay restart on the remaining slots"

# failure_rate: at most 1 failure per minute. The first worker loss restarts the job on the
# slots that remain; the second within the minute ends it FAILED.
w2=$WORKER_PID
start_worker w3 2; w3=$WORKER_PID
wait_for 10 field_is "$REST/overview" 'd["taskmanagers"]' 2 || fail "w3 did not register"
sed 's/"strategy": "fixed_delay", "attempts": 2, "delay": "500ms"/"strategy": "failure_rate", "attempts": 1, "failure_interval": "1m", "delay": "200ms"/; s/"resilient"/"rate-limited"/' \
    "$T/job.json" >"$T/rate.json"
grep -q failure_rate "$T/rate.json" || fail "test setup: no failure_rate in the spec"
"$CFCTL" -m "$REST" run "$T/rate.json" >"$T/run2.out" 2>&1 || fail "run: $(cat "$T/run2.out")"
jid=$(grep -o 'JobID [0-9a-f]*' "$T/run2.out" | cut -d' ' -f2)
wait_for 10 field_is "$REST/jobs/$jid" 'd["state"]' RUNNING || fail "rate-limited job not RUNNING"
kill -9 "$w3"
wait_for 10 grep -q "job $jid.*restarting (attempt 2)" "$T/coord.err" || fail "failure_rate: no first restart"
wait_for 10 field_is "$REST/jobs/$jid" 'd["state"]' RUNNING || fail "not RUNNING after the first restart"
start_worker w4 2
kill -9 "$w2"
wait_for 10 field_is "$REST/jobs/$jid" 'd["state"]' FAILED || fail "failure_rate: a second failure within the interval should end the job"
pass "failure_rate: one restart allowed per interval, the second failure ends the job FAILED"

# Slot request timeout (Flink's slot.request.timeout): a job that cannot get its slots fails
# after --slot-request-timeout with the numbers, instead of waiting for ever.
start_coordinator coord2 --heartbeat-interval 200ms --slot-request-timeout 1s
start_worker small 1
wait_for 10 field_is "$REST/overview" 'd["slots-total"]' 1 || fail "the 1-slot worker did not register"
sed 's/"rate-limited"/"too-wide"/' "$T/rate.json" >"$T/wide.json"
"$CFCTL" -m "$REST" run "$T/wide.json" >"$T/run3.out" 2>&1 || fail "run: $(cat "$T/run3.out")"
jid=$(grep -o 'JobID [0-9a-f]*' "$T/run3.out" | cut -d' ' -f2)
[ "$(json "$REST/jobs/$jid" 'd["state"]')" = CREATED ] || fail "a job waiting for slots should be CREATED"
wait_for 10 field_is "$REST/jobs/$jid" 'd["state"]' FAILED || fail "the job waiting for 2 slots on 1 did not fail"
json "$REST/jobs/$jid/exceptions" 'json.dumps(d)' >"$T/exc.json"
grep -q 'slot request timeout' "$T/exc.json" && grep -q 'needs 2 slots; 1 free' "$T/exc.json" ||
    fail "the failure should name the timeout and the slots: $(cat "$T/exc.json")"
pass "a job needing 2 slots on a 1-slot cluster fails after the 1 s slot request timeout, naming both numbers"
