#!/usr/bin/env bash
# With a coordinator and two 2-slot workers as separate processes:
#  - a keyed window job submitted with `cfctl run -p 4 --wait` runs on both workers and its
#    output equals the `cfctl local` result exactly;
#  - an invalid spec is refused with 400 and the JSON path; unknown jobs get 404;
#  - `cfctl cancel` takes a running job to CANCELED within seconds;
#  - killing a worker with -9 takes its job out of RUNNING within the heartbeat timeout.
source "$(dirname "$0")/lib.sh"
CFCTL=$BIN/cfctl
start_coordinator coord --heartbeat-interval 200ms --heartbeat-timeout 2s
start_workers 2 2

cat >"$T/job.json" <<JOB
{"name": "per-user", "operators": [
  {"id": "clicks", "type": "source.datagen", "count": 200000, "ts_jitter": "2s",
   "event_time": {"field": "ts", "max_out_of_orderness": "2s"}},
  {"id": "per-user", "type": "window", "key_by": ["user_id"],
   "window": {"type": "tumbling", "size": "1m"},
   "aggregates": {"n": "count(*)", "ms": "sum(duration_ms)", "pages": "count_distinct(page_url)"}},
  {"id": "out", "type": "sink.file", "path": "OUT"}
]}
JOB
sed "s#OUT#$T/cluster-out#" "$T/job.json" >"$T/cluster.json"
sed "s#OUT#$T/local-out#" "$T/job.json" >"$T/local.json"
"$CFCTL" -m "$REST" run -p 4 --wait "$T/cluster.json" >"$T/run.out" 2>"$T/run.err" ||
    fail "cfctl run failed: $(cat "$T/run.out" "$T/run.err")"
jid=$(grep -o 'JobID [0-9a-f]*' "$T/run.out" | head -1 | cut -d' ' -f2)
[ ${#jid} -eq 32 ] || fail "no job id in: $(cat "$T/run.out")"
[ "$(json "$REST/jobs/$jid" 'd["state"]')" = FINISHED ] || fail "job not FINISHED"
[ "$(ls "$T/cluster-out" | wc -l)" -eq 4 ] || fail "expected 4 part files (one per sink subtask)"
"$CFCTL" local -q --port 0 -p 1 "$T/local.json" 2>/dev/null || fail "reference run failed"
cat "$T"/cluster-out/part-* | sort >"$T/a.txt"
cat "$T"/local-out/part-* | sort >"$T/b.txt"
cmp -s "$T/a.txt" "$T/b.txt" || fail "cluster output differs from cfctl local ($(wc -l <"$T/a.txt") vs $(wc -l <"$T/b.txt") rows)"
grep -q "deployed on 2 workers" "$T/coord.err" || fail "the job did not use both workers"
pass "cfctl run -p 4 on two workers: $(wc -l <"$T/a.txt") rows, equal to cfctl local"

# Bad submissions and unknown jobs.
code=$(curl -s -o "$T/body" -w '%{http_code}' -X POST --data '{"name": "x", "operators": [{"id": "a", "type": "source.datagen"}, {"id": "f", "type": "filter", "where": "nope > 1"}]}' "$REST/jobs")
[ "$code" = 400 ] && grep -qF "operators[1].where: unknown field 'nope'" "$T/body" || fail "invalid spec: $code $(cat "$T/body")"
code=$(curl -s -o "$T/body" -w '%{http_code}' -X POST --data 'not json' "$REST/jobs")
[ "$code" = 400 ] && grep -q '"errors"' "$T/body" || fail "malformed body: $code"
code=$(curl -s -o "$T/body" -w '%{http_code}' "$REST/jobs/0123456789abcdef0123456789abcdef")
[ "$code" = 404 ] && grep -q '"errors"' "$T/body" || fail "unknown job: $code"
pass "bad requests get 4xx with errors"

# Cancel an unbounded job.
cat >"$T/slow.json" <<JOB
{"name": "slow", "parallelism": 4, "operators": [
  {"id": "clicks", "type": "source.datagen", "rate": 1000},
  {"id": "keep", "type": "filter", "where": "TRUE"},
  {"id": "out", "type": "sink.file", "path": "$T/slow-out"}
]}
JOB
"$CFCTL" -m "$REST" run "$T/slow.json" >"$T/run2.out" 2>&1 || fail "run slow: $(cat "$T/run2.out")"
sid=$(grep -o 'JobID [0-9a-f]*' "$T/run2.out" | cut -d' ' -f2)
wait_for 10 field_is "$REST/jobs/$sid" 'd["state"]' RUNNING || fail "slow job not RUNNING"
"$CFCTL" -m "$REST" list | grep -q "$sid : slow (RUNNING)" || fail "cfctl list: $("$CFCTL" -m "$REST" list)"
start=$SECONDS
"$CFCTL" -m "$REST" cancel "$sid" >"$T/cancel.out" 2>&1 || fail "cancel: $(cat "$T/cancel.out")"
grep -q "Cancelled job $sid." "$T/cancel.out" || fail "cancel output"
[ "$(json "$REST/jobs/$sid" 'd["state"]')" = CANCELED ] || fail "not CANCELED"
[ $((SECONDS - start)) -le 5 ] || fail "cancel took $((SECONDS - start)) s"
pass "cancel reaches CANCELED in $((SECONDS - start)) s"

# Kill a worker under a running job.
sed 's#"name": "slow"#"name": "victim"#; s#slow-out#victim-out#' "$T/slow.json" >"$T/victim.json"
"$CFCTL" -m "$REST" run "$T/victim.json" >"$T/run3.out" 2>&1 || fail "run victim"
vid=$(grep -o 'JobID [0-9a-f]*' "$T/run3.out" | cut -d' ' -f2)
wait_for 10 field_is "$REST/jobs/$vid" 'd["state"]' RUNNING || fail "victim not RUNNING"
kill -9 "${W[1]}"
start=$SECONDS
wait_for 8 field_is "$REST/jobs/$vid" 'd["state"]' FAILED || fail "job still $(json "$REST/jobs/$vid" 'd["state"]') after the worker died"
[ $((SECONDS - start)) -le 4 ] || fail "took $((SECONDS - start)) s with a 2 s heartbeat timeout"
grep -q "lost" "$T/coord.err" || fail "no log of the lost worker"
pass "a killed worker fails its job in $((SECONDS - start)) s"

# Vertex metrics of a running job come from the workers' heartbeats.
cat >"$T/metrics.json" <<JOB
{"name": "metered", "parallelism": 4, "operators": [
  {"id": "clicks", "type": "source.datagen", "rate": 2000},
  {"id": "keep", "type": "filter", "where": "TRUE", "key_by": ["user_id"]},
  {"id": "out", "type": "sink.file", "path": "$T/metered-out"}
]}
JOB
start_worker w3 2   # replaces the worker killed above
wait_for 10 field_is "$REST/overview" 'd["taskmanagers"]' 2 || fail "third worker did not register"
"$CFCTL" -m "$REST" run "$T/metrics.json" >"$T/run4.out" 2>&1 || fail "run metered: $(cat "$T/run4.out")"
mid=$(grep -o 'JobID [0-9a-f]*' "$T/run4.out" | cut -d' ' -f2)
wait_for 10 field_is "$REST/jobs/$mid" 'd["state"]' RUNNING || fail "metered not RUNNING"
wait_for 10 field_is "$REST/jobs/$mid" 'd["vertices"][1]["metrics"]["read-records"] > 500' True ||
    fail "no vertex metrics: $(json "$REST/jobs/$mid" 'd["vertices"]')"
[ "$(json "$REST/jobs/$mid" 'd["vertices"][0]["metrics"]["write-records"] > 0')" = True ] || fail "source write-records"
"$CFCTL" -m "$REST" info "$mid" | grep -q "metered" || fail "cfctl info"
"$CFCTL" -m "$REST" cancel "$mid" >/dev/null || fail "cancel metered"
pass "per-vertex metrics from worker heartbeats"

# The failed job's reason, its plan, and Prometheus metrics.
json "$REST/jobs/$vid/exceptions" 'd["exceptionHistory"]["entries"][0]["stacktrace"]' | grep -q "lost" ||
    fail "exceptions: $(curl -s "$REST/jobs/$vid/exceptions")"
[ "$(json "$REST/jobs/$jid/plan" 'len(d["plan"]["nodes"])')" = 2 ] || fail "plan of a finished job"
curl -s "$REST/metrics" | grep -q '^creekflow_taskmanagers 2$' || fail "metrics: $(curl -s "$REST/metrics" | head -5)"
pass "exceptions, plan and metrics endpoints"
