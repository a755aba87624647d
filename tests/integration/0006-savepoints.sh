#!/usr/bin/env bash
# Savepoints: stop with a savepoint at -p 2, resume at -p 4, then -p 3, then -p 1 and
# run to the end: the union of the committed outputs equals an uninterrupted run exactly
# (keyed window state is redistributed by key-group ranges; the source's positions too).
# Also: `cfctl savepoint` while running, `cfctl checkpoint`, a savepoint path that does not
# exist and state that fits no operator are refused with messages that name them, and
# allowNonRestoredState (-n) lets an edited job drop the state of a removed operator.
# Then the coordinator is killed with -9 mid-job and restarted on its data directory: the
# job resumes from its latest checkpoint and still produces exactly the reference output.
source "$(dirname "$0")/lib.sh"
CFCTL=$BIN/cfctl
start_coordinator coord --heartbeat-interval 200ms --heartbeat-timeout 2s
start_workers 2 2

job() { # job OUT_DIR COUNT RATE [extra operator JSON]
    cat <<JOB
{"name": "resumable", "parallelism": 2,
 "checkpoints": {"interval": "1s", "dir": "file://$T/chk", "retain": 2},
 "operators": [
  {"id": "clicks", "type": "source.datagen", "generator": "clickstream", "seed": 5,
   "count": $2, "rate": $3, "event_time": {"field": "ts", "max_out_of_orderness": "5s"}},
  {"id": "per-type", "type": "window", "key_by": ["event_type", "country"],
   "window": {"type": "sliding", "size": "20s", "slide": "10s"},
   "aggregates": {"n": "count(*)", "users": "count_distinct(user_id)", "ms": "avg(duration_ms)"}},
  ${4:-}
  {"id": "out", "type": "sink.file", "path": "$1"}
]}
JOB
}
N=120000
job "$T/ref" $N 0 >"$T/ref.json"
"$CFCTL" local --port 0 "$T/ref.json" >"$T/ref.out" 2>&1 || fail "reference: $(tail -3 "$T/ref.out")"
sort "$T"/ref/part-* >"$T/ref.rows"

job "$T/out" $N 10000 >"$T/job.json"
run() { # run -p N [-s PATH]: prints the job id
    "$CFCTL" -m "$REST" run "$@" "$T/job.json" >"$T/run.out" 2>&1 || fail "run $*: $(cat "$T/run.out")"
    grep -o 'JobID [0-9a-f]*' "$T/run.out" | cut -d' ' -f2
}
stop() { # stop JOBID: prints the savepoint path
    wait_for 20 bash -c "'$CFCTL' -m '$REST' info $1 | grep -q 'Checkpoints: [1-9]'" ||
        fail "no checkpoint before stopping $1"
    "$CFCTL" -m "$REST" stop -p "$T/savepoints" "$1" >"$T/stop.out" 2>&1 ||
        fail "stop: $(cat "$T/stop.out"); exceptions: $(json "$REST/jobs/$1/exceptions" 'd["exceptionHistory"]["entries"]')"
    wait_for 10 field_is "$REST/jobs/$1" 'd["state"]' FINISHED || fail "stopped job not FINISHED"
    sed -n 's/^Savepoint completed. Path: //p' "$T/stop.out"
}
j1=$(run -p 2)
wait_for 10 field_is "$REST/jobs/$j1" 'd["state"]' RUNNING || fail "not RUNNING"
"$CFCTL" -m "$REST" checkpoint "$j1" >"$T/ck.out" 2>&1 || fail "cfctl checkpoint: $(cat "$T/ck.out")"
grep -q "^Checkpoint [0-9]* for job $j1 completed." "$T/ck.out" || fail "checkpoint output: $(cat "$T/ck.out")"
"$CFCTL" -m "$REST" savepoint "$j1" "$T/sp-running" >"$T/sp.out" 2>&1 || fail "savepoint: $(cat "$T/sp.out")"
sp0=$(sed -n 's/^Savepoint completed. Path: //p' "$T/sp.out")
[ -f "${sp0#file://}/_metadata" ] || [ -f "$sp0/_metadata" ] || fail "savepoint has no _metadata: $sp0"
[ "$(json "$REST/jobs/$j1" 'd["state"]')" = RUNNING ] || fail "savepoint stopped the job"
sleep 1
sp1=$(stop "$j1")
[ -n "$sp1" ] || fail "stop printed no savepoint path"
case "$sp1" in *"/savepoint-${j1:0:6}-"*) ;; *) fail "savepoint name: $sp1" ;; esac

j2=$(run -p 4 -s "$sp1")
wait_for 10 field_is "$REST/jobs/$j2" 'd["state"]' RUNNING || fail "resumed job not RUNNING"
[ "$(json "$REST/jobs/$j2/checkpoints" 'd["latest"]["restored"]["is_savepoint"]')" = True ] ||
    fail "checkpoints do not show the restore"
sleep 1
sp2=$(stop "$j2")
jb=$(run -p 3 -s "$sp2")
sleep 1
sp3=$(stop "$jb")
j3=$(run -p 1 -s "$sp3")
wait_for 60 field_is "$REST/jobs/$j3" 'd["state"]' FINISHED || fail "last part did not finish"
sort "$T"/out/part-* >"$T/got.rows"
cmp -s "$T/ref.rows" "$T/got.rows" ||
    fail "union of outputs differs: $(wc -l <"$T/got.rows") vs $(wc -l <"$T/ref.rows") rows; $(diff "$T/ref.rows" "$T/got.rows" | head -3)"
pass "stop at -p 2, resume at -p 4, stop, at -p 3, stop, at -p 1: exact union ($(wc -l <"$T/got.rows") rows)"

# Refusals that name the problem.
"$CFCTL" -m "$REST" run -s "$T/no-such-savepoint" "$T/job.json" >"$T/bad.out" 2>&1 && fail "missing savepoint accepted"
grep -q "no-such-savepoint" "$T/bad.out" || fail "missing savepoint message: $(cat "$T/bad.out")"
sed 's/"id": "per-type"/"id": "per-type-v2"/' "$T/job.json" >"$T/edited.json"
"$CFCTL" -m "$REST" run -s "$sp1" "$T/edited.json" >"$T/bad2.out" 2>&1 && fail "unmatched state accepted"
grep -q "per-type" "$T/bad2.out" || fail "unmatched state message: $(cat "$T/bad2.out")"
"$CFCTL" -m "$REST" run -n -s "$sp1" "$T/edited.json" >"$T/ok.out" 2>&1 || fail "-n refused: $(cat "$T/ok.out")"
j4=$(grep -o 'JobID [0-9a-f]*' "$T/ok.out" | cut -d' ' -f2)
"$CFCTL" -m "$REST" cancel "$j4" >/dev/null 2>&1 || true
pass "missing savepoints and unmatched state are refused by name; -n allows dropping state"

# Coordinator killed and restarted on its data directory.
rm -rf "$T/out"
j5=$(run -p 2)
wait_for 20 bash -c "ls -d '$T/chk/$j5'/chk-* >/dev/null 2>&1" || fail "no checkpoint of job 5"
sleep 1
kill -9 "$COORD_PID"
sleep 0.5
mv "$T/coord.err" "$T/coord-before-kill.log"
REST_PORT=${REST##*:} RPC_PORT=${RPC##*:} start_coordinator coord --heartbeat-interval 200ms --heartbeat-timeout 2s
wait_for 60 field_is "$REST/jobs/$j5" 'd["state"]' FINISHED || fail "job 5 did not finish after the coordinator restart"
grep -q "job=$j5 .*restored from checkpoint" "$T"/w*.err || fail "job 5 did not restore from a checkpoint"
sort "$T"/out/part-* >"$T/got5.rows"
cmp -s "$T/ref.rows" "$T/got5.rows" ||
    fail "after a coordinator restart: $(wc -l <"$T/got5.rows") vs $(wc -l <"$T/ref.rows") rows"
pass "coordinator kill -9 and restart: the job resumed from its checkpoint, output exact"
