#!/usr/bin/env bash
# Kafka source + checkpoints: events produced with kcat into cf-kafka-mock (4 partitions)
# are read by a bounded source.kafka (stop: latest) through 10 s windows into the file sink,
# checkpointing every second while workers are killed with -9; the job restores its
# partition offsets and window state from the latest checkpoint, and the committed output
# equals an uninterrupted `cfctl local` run of the same job exactly.
source "$(dirname "$0")/lib.sh"
CFCTL=$BIN/cfctl
"$BIN/cf-kafka-mock" --port 0 --topic clicks:4 >"$T/kafka.out" 2>"$T/kafka.err" &
PIDS+=($!)
wait_for 10 test -s "$T/kafka.out" || fail "cf-kafka-mock did not start"
KAFKA=$(head -1 "$T/kafka.out")
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
files = [open(f"{t}/p{p}.jsonl", "w") for p in range(4)]
base = 1729555200000
for i in range(160000):
    e = {"user_id": f"user-{(i * 7919) % 3000}", "ts": base + i * 5 + (i % 13) * 40,
         "duration_ms": (i * 31) % 5000}
    files[i % 4].write(json.dumps(e) + "\n")
    if i % 9973 == 0:
        files[i % 4].write("{not json\n")
for f in files:
    f.close()
PY
for p in 0 1 2 3; do kcat -P -b "$KAFKA" -t clicks -p $p -l "$T/p$p.jsonl" || fail "kcat produce"; done

job() { # OUT CHECKPOINTS
    cat <<JOB
{"name": "kafka-exactly-once", "parallelism": 2, $2
 "restart": {"strategy": "fixed_delay", "attempts": 10, "delay": "300ms"},
 "operators": [
  {"id": "events", "type": "source.kafka", "brokers": "$KAFKA", "topic": "clicks",
   "start": "earliest", "stop": "latest",
   "schema": {"user_id": "string", "ts": "timestamp", "duration_ms": "int"},
   "event_time": {"field": "ts", "max_out_of_orderness": "2s"}},
  {"id": "throttle", "type": "sink.blackhole", "input": "events", "rate": 15000},
  {"id": "per-user", "type": "window", "input": "events", "key_by": ["user_id"],
   "window": {"type": "tumbling", "size": "10s"},
   "aggregates": {"n": "count(*)", "ms": "sum(duration_ms)"}},
  {"id": "out", "type": "sink.file", "path": "$1"},
  {"id": "bad", "type": "sink.file", "input": "events.errors", "path": "$1-errors"}
]}
JOB
}
job "$T/ref" "" >"$T/ref.json"
"$CFCTL" local --port 0 "$T/ref.json" >"$T/ref.out" 2>&1 || fail "reference: $(tail -3 "$T/ref.out")"
sort "$T"/ref/part-* >"$T/ref.rows"
[ "$(wc -l <"$T/ref.rows")" -gt 1000 ] || fail "reference too small"

start_coordinator coord --heartbeat-interval 200ms --heartbeat-timeout 2s
start_workers 2 2
job "$T/out" "\"checkpoints\": {\"interval\": \"1s\", \"dir\": \"file://$T/chk\"}," >"$T/job.json"
"$CFCTL" -m "$REST" run "$T/job.json" >"$T/run.out" 2>&1 || fail "run: $(cat "$T/run.out")"
jid=$(grep -o 'JobID [0-9a-f]*' "$T/run.out" | cut -d' ' -f2)
for round in 1 2; do
    before=$(grep -c "checkpoint [0-9]* complete" "$T/coord.err" || true)
    wait_for 20 bash -c "[ \$(grep -c 'checkpoint [0-9]* complete' '$T/coord.err') -gt $before ]" ||
        fail "round $round: no checkpoint completed"
    sleep "0.$((RANDOM % 9 + 1))"
    if [ $round = 1 ]; then kill -9 "${W[1]}"; start_worker w3 2; W[1]=$WORKER_PID
    else kill -9 "${W[2]}"; start_worker w4 2; W[2]=$WORKER_PID; fi
    wait_for 20 grep -q "restarting (attempt $((round + 1)))" "$T/coord.err" || fail "no restart $round"
done
wait_for 90 field_is "$REST/jobs/$jid" 'd["state"]' FINISHED || fail "not FINISHED"
grep -q "restored from checkpoint" "$T"/w3.err "$T"/w4.err || fail "no restore"
sort "$T"/out/part-* >"$T/got.rows"
cmp -s "$T/ref.rows" "$T/got.rows" ||
    fail "committed output differs: $(wc -l <"$T/got.rows") vs $(wc -l <"$T/ref.rows") rows"
sort "$T"/ref-errors/part-* | sed 's/"location":"[^"]*"//' >"$T/ref.err"
sort "$T"/out-errors/part-* | sed 's/"location":"[^"]*"//' >"$T/got.err"
[ "$(wc -l <"$T/ref.err")" -eq 17 ] || fail "reference errors: $(wc -l <"$T/ref.err")"
cmp -s "$T/ref.err" "$T/got.err" || fail "error side output differs"
pass "kafka source with 2 worker kills: exact windows ($(wc -l <"$T/got.rows") rows) and exactly 17 bad records"
