#!/usr/bin/env bash
# source.kafka, bounded (stop: latest), over a 4-partition topic of cf-kafka-mock filled with
# kcat: a filter and a 1-minute event-time window give exactly the rows an independent
# computation gives at -p 1, 2 and 3 (partitions spread unevenly over subtasks); per-partition
# watermarks leave no record late although the partitions interleave arbitrarily and lag each
# other by minutes; bad records reach events.errors with their topic/partition@offset and the
# reason; records produced after the job started are not read (stop: latest).
source "$(dirname "$0")/lib/common.sh"
source "$LIB/kafka.sh"
N=${CF_KAFKA_EVENTS:-5000}
python3 "$LIB/kafka_gen.py" "$N" 4 7 "$T/data"
CF_KAFKA_MOCK_BROKERS=3 kafka_start events:4 # partition leaders on 3 brokers
for p in 0 1 2 3; do
    kafka_produce events "$p" "$T/data/p$p.txt" -K '\t' -Z
done

cat >"$T/job.json" <<JOB
{"name": "kafka-exact", "operators": [
  {"id": "events", "type": "source.kafka", "brokers": "$KAFKA", "topic": "events",
   "stop": "latest", "batch_rows": 100,
   "schema": {"id": "string", "user": "string", "kind": "string", "amount": "int",
              "ts": "timestamp"},
   "event_time": {"field": "ts", "max_out_of_orderness": "5s"}},
  {"id": "paid", "type": "filter", "where": "kind <> 'view' AND amount IS NOT NULL"},
  {"id": "paid-out", "type": "sink.file", "path": "OUT/filter"},
  {"id": "per-kind", "type": "window", "input": "events", "key_by": ["kind"],
   "window": {"type": "tumbling", "size": "1m"},
   "aggregates": {"events": "count(*)", "total": "sum(amount)",
                  "users": "count_distinct(user)"}},
  {"id": "window-out", "type": "sink.file", "path": "OUT/window"},
  {"id": "late-out", "type": "sink.file", "input": "per-kind.late", "path": "OUT/late"},
  {"id": "errors-out", "type": "sink.file", "input": "events.errors", "path": "OUT/errors"}
]}
JOB

check_errors() {
    python3 - "$1" "$T/data/expected-errors.txt" <<'PY' || fail "$2: error rows differ"
import json, os, sys
got = []
for root, _, files in os.walk(sys.argv[1]):
    for name in files:
        if not name.startswith("."):
            got += [json.loads(l) for l in open(os.path.join(root, name))]
want = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
got.sort(key=lambda r: r["location"])
assert len(got) == len(want), (len(got), len(want))
for g, (loc, raw, why) in zip(got, want):
    assert g["location"] == loc and g["raw"] == raw and why in g["error"], (g, loc, raw, why)
PY
}

for p in 1 2 3; do
    sed "s#OUT#$T/out-p$p#g" "$T/job.json" >"$T/job-p$p.json"
    expect_exit 0 "$CFCTL" local --port 0 -p "$p" "$T/job-p$p.json"
    python3 "$LIB/canon.py" "$T/out-p$p/filter" >"$T/filter-p$p.jsonl"
    same_lines "$T/data/expected-filter.jsonl" "$T/filter-p$p.jsonl" "filtered rows at -p $p"
    python3 "$LIB/canon.py" "$T/out-p$p/window" >"$T/window-p$p.jsonl"
    same_lines "$T/data/expected-window.jsonl" "$T/window-p$p.jsonl" "window rows at -p $p"
    [ -z "$(python3 "$LIB/canon.py" "$T/out-p$p/late" 2>/dev/null)" ] || fail "late records at -p $p"
    check_errors "$T/out-p$p/errors" "-p $p"
    grep -q "$((4 * N)) records in" "$T/stderr" || fail "-p $p did not read $((4 * N)) records"
    pass "-p $p: $(wc -l <"$T/filter-p$p.jsonl") filtered, $(wc -l <"$T/window-p$p.jsonl") window rows, $(wc -l <"$T/data/expected-errors.txt") bad records, none late"
done

# Each subtask logs the partitions it reads: at -p 3, partitions 0 and 3 go to subtask 1.
grep -q "subtask=1/3 events: reading events/0@0\.\.[0-9]*, events/3@0\.\.[0-9]*$" "$T/stderr" ||
    fail "partition assignment at -p 3 (i % parallelism)"
pass "partition i of the sorted list goes to subtask i % parallelism"

# stop: latest reads up to the end offsets seen at start; records produced meanwhile wait.
sed "s#OUT#$T/out-more#g" "$T/job.json" >"$T/job-more.json"
"$CFCTL" local --port 0 -p 1 "$T/job-more.json" >"$T/more.out" 2>"$T/more.err" &
job=$!
python3 -c 'import json
for i in range(20000):
    print("late\t" + json.dumps({"id": "after-%d" % i, "kind": "buy", "amount": 1, "ts": 1729620000000}))' >"$T/after.txt"
kafka_produce events 0 "$T/after.txt" -K '\t'
wait "$job" || { cat "$T/more.err" >&2; fail "job with concurrent producer failed"; }
got=$(sed -n 's/.* \([0-9]*\) records in.*/\1/p' "$T/more.err" | tail -1)
[ "$got" = "$((4 * N))" ] || fail "read $got records, not the $((4 * N)) before the end offsets seen at start"
pass "records produced after the start are not read ($got read)"
kafka_stop
pass "cf-kafka-mock stopped cleanly on SIGTERM"
