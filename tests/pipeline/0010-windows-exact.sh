#!/usr/bin/env bash
# Tumbling (with allowed lateness), sliding and session windows over out-of-order events
# with late and very late records give exactly the rows an independent computation gives,
# the very late records reach each operator's late output once, and -p 1, 2 and 4 agree.
# The source runs with parallelism 1 (one ordered stream, like one Kafka partition) so
# watermarks, and so lateness, are the same at every parallelism.
source "$(dirname "$0")/lib/common.sh"
N=${CF_WINDOW_EVENTS:-250000}
python3 "$LIB/gen_windows.py" "$N" 5 "$T/data"
cat >"$T/job.json" <<JOB
{"name": "windows", "operators": [
  {"id": "events", "type": "source.file", "parallelism": 1, "path": "$T/data/input",
   "schema": {"id": "string", "kind": "string", "user_id": "string", "user_type": "string",
              "country": "string", "score": "int", "ms": "int", "ts": "timestamp"},
   "event_time": {"field": "ts", "max_out_of_orderness": "5s"}},
  {"id": "tumbling", "type": "window", "key_by": ["user_type"],
   "window": {"type": "tumbling", "size": "1m"}, "allowed_lateness": "2m",
   "aggregates": {"events": "count(*)", "scored": "count(score)", "total": "sum(score)",
                  "lo": "min(score)", "hi": "max(score)", "avg_ms": "avg(ms)",
                  "users": "count_distinct(user_id)", "first_user": "first(user_id)",
                  "last_user": "last(user_id)"}},
  {"id": "t-out", "type": "sink.file", "path": "OUT/tumbling"},
  {"id": "t-late", "type": "sink.file", "input": "tumbling.late", "path": "OUT/late-tumbling"},
  {"id": "not-late-ok", "type": "filter", "input": "events", "where": "kind <> 'late_ok'"},
  {"id": "sliding", "type": "window", "key_by": ["country"],
   "window": {"type": "sliding", "size": "10m", "slide": "1m"},
   "aggregates": {"events": "count(*)", "users": "count_distinct(user_id)", "total_ms": "sum(ms)"}},
  {"id": "s-out", "type": "sink.file", "path": "OUT/sliding"},
  {"id": "s-late", "type": "sink.file", "input": "sliding.late", "path": "OUT/late-sliding"},
  {"id": "sessions", "type": "window", "input": "not-late-ok", "key_by": ["user_id"],
   "window": {"type": "session", "gap": "30005ms"},
   "aggregates": {"events": "count(*)", "total_ms": "sum(ms)"}},
  {"id": "x-out", "type": "sink.file", "path": "OUT/session"},
  {"id": "x-late", "type": "sink.file", "input": "sessions.late", "path": "OUT/late-session"}
]}
JOB
for p in 1 2 4; do
    sed "s#OUT#$T/out-p$p#g" "$T/job.json" >"$T/job-p$p.json"
    expect_exit 0 "$CFCTL" local -p "$p" "$T/job-p$p.json"
    for w in tumbling sliding session; do
        python3 "$LIB/canon.py" "$T/out-p$p/$w" >"$T/got-$w-p$p.jsonl"
        same_lines "$T/data/expected-$w.jsonl" "$T/got-$w-p$p.jsonl" "$w windows at -p $p"
        python3 "$LIB/canon.py" --field id "$T/out-p$p/late-$w" >"$T/late-$w-p$p.txt"
        same_lines "$T/data/expected-late-$w.txt" "$T/late-$w-p$p.txt" "$w late records at -p $p"
    done
    pass "-p $p: $(wc -l <"$T/got-tumbling-p$p.jsonl") tumbling, $(wc -l <"$T/got-sliding-p$p.jsonl") sliding, $(wc -l <"$T/got-session-p$p.jsonl") session rows, $(wc -l <"$T/late-tumbling-p$p.txt") late"
done

# The same with a tiny state budget: window state spills to LMDB and is read back, and the
# results do not change.
sed "s#OUT#$T/out-spill#g; s#\"allowed_lateness\": \"2m\",#\"allowed_lateness\": \"2m\", \"state_memory\": \"8KB\",#; s#\"slide\": \"1m\"},#\"slide\": \"1m\"}, \"state_memory\": \"8KB\",#" "$T/job.json" >"$T/job-spill.json"
grep -c state_memory "$T/job-spill.json" | grep -q 2 || fail "spill variant not configured"
expect_exit 0 "$CFCTL" local -p 2 "$T/job-spill.json"
grep -q "spilling cold panes to LMDB" "$T/stderr" || fail "state did not spill"
for w in tumbling sliding session; do
    python3 "$LIB/canon.py" "$T/out-spill/$w" >"$T/got-$w-spill.jsonl"
    same_lines "$T/data/expected-$w.jsonl" "$T/got-$w-spill.jsonl" "$w windows with spilling"
done
# The job's LMDB state directory is removed when it ends.
spill_jid=$(grep -o 'job windows ([0-9a-f]*)' "$T/stderr" | grep -o '[0-9a-f]\{32\}') ||
    fail "no job id in the spill run's output"
[ ! -e "${TMPDIR:-/tmp}/creekflow-state/$spill_jid.0" ] || fail "state of job $spill_jid left behind"
pass "identical results with state spilled to LMDB"
