#!/usr/bin/env bash
# Hand-checked window cases with exact expected rows: a single-event window, a key that is
# NULL, an all-NULL sum, gaps (no row for empty windows), a session bridged by an
# out-of-order record, an allowed-lateness update, and a record too late for anything.
source "$(dirname "$0")/lib/common.sh"
cat >"$T/in.jsonl" <<'IN'
{"k":"a","v":1,"ts":"2024-10-22T18:00:05Z"}
{"k":"a","v":null,"ts":"2024-10-22T18:00:20Z"}
{"k":null,"v":7,"ts":"2024-10-22T18:00:30Z"}
{"k":"b","v":null,"ts":"2024-10-22T18:00:40Z"}
{"k":"a","v":2,"ts":"2024-10-22T18:00:50Z"}
{"k":"a","v":4,"ts":"2024-10-22T18:03:10Z"}
{"k":"a","v":8,"ts":"2024-10-22T18:01:30Z"}
{"k":"a","v":16,"ts":"2024-10-22T18:00:59Z"}
{"k":"b","v":3,"ts":"2024-10-22T18:00:01Z"}
{"k":"c","v":5,"ts":"2024-10-22T18:05:00Z"}
{"k":"z","v":0,"ts":"2024-10-22T18:10:00Z"}
{"k":"z","v":0,"ts":"2024-10-22T18:00:02Z"}
IN
cat >"$T/job.json" <<JOB
{"name": "fixture", "operators": [
  {"id": "in", "type": "source.file", "parallelism": 1, "path": "$T/in.jsonl",
   "schema": {"k": "string", "v": "int", "ts": "timestamp"},
   "event_time": {"field": "ts", "max_out_of_orderness": "0ms"}},
  {"id": "tumble", "type": "window", "key_by": ["k"], "window": {"type": "tumbling", "size": "1m"},
   "allowed_lateness": "4m",
   "aggregates": {"n": "count(*)", "nv": "count(v)", "s": "sum(v)", "mx": "max(v)"}},
  {"id": "t", "type": "sink.file", "path": "$T/tumble"},
  {"id": "tl", "type": "sink.file", "input": "tumble.late", "path": "$T/tumble-late"},
  {"id": "sess", "type": "window", "input": "in", "key_by": ["k"],
   "window": {"type": "session", "gap": "45s"}, "aggregates": {"n": "count(*)", "s": "sum(v)"}},
  {"id": "x", "type": "sink.file", "path": "$T/sess"},
  {"id": "xl", "type": "sink.file", "input": "sess.late", "path": "$T/sess-late"}
]}
JOB
# One source subtask (a second one with no data would hold the watermark back until its
# thread ends, so lateness would depend on thread scheduling) and one row per batch, so the
# watermark follows every row and lateness is decided per record:
# 18:03:10 fires the 18:00 windows; 18:01:30, 18:00:59 and 18:00:01 then arrive within the
# 4-minute lateness (tumbling re-emits) but after their sessions closed (session late);
# 18:05:00 purges the 18:00 windows, so 18:00:02 is too late for both.
sed -i 's#"max_out_of_orderness": "0ms"}}#"max_out_of_orderness": "0ms"}, "batch_rows": 1}#' "$T/job.json"
expect_exit 0 "$CFCTL" local -p 2 "$T/job.json"
python3 "$LIB/canon.py" "$T/tumble" >"$T/got-tumble.jsonl"
cat >"$T/want-tumble.jsonl" <<'OUT'
{"k": "a", "mx": 16, "n": 4, "nv": 3, "s": 19, "window_end": "2024-10-22T18:01:00.000Z", "window_start": "2024-10-22T18:00:00.000Z"}
{"k": "a", "mx": 2, "n": 3, "nv": 2, "s": 3, "window_end": "2024-10-22T18:01:00.000Z", "window_start": "2024-10-22T18:00:00.000Z"}
{"k": "a", "mx": 4, "n": 1, "nv": 1, "s": 4, "window_end": "2024-10-22T18:04:00.000Z", "window_start": "2024-10-22T18:03:00.000Z"}
{"k": "a", "mx": 8, "n": 1, "nv": 1, "s": 8, "window_end": "2024-10-22T18:02:00.000Z", "window_start": "2024-10-22T18:01:00.000Z"}
{"k": "b", "mx": 3, "n": 2, "nv": 1, "s": 3, "window_end": "2024-10-22T18:01:00.000Z", "window_start": "2024-10-22T18:00:00.000Z"}
{"k": "b", "mx": null, "n": 1, "nv": 0, "s": null, "window_end": "2024-10-22T18:01:00.000Z", "window_start": "2024-10-22T18:00:00.000Z"}
{"k": "c", "mx": 5, "n": 1, "nv": 1, "s": 5, "window_end": "2024-10-22T18:06:00.000Z", "window_start": "2024-10-22T18:05:00.000Z"}
{"k": "z", "mx": 0, "n": 1, "nv": 1, "s": 0, "window_end": "2024-10-22T18:11:00.000Z", "window_start": "2024-10-22T18:10:00.000Z"}
{"k": null, "mx": 7, "n": 1, "nv": 1, "s": 7, "window_end": "2024-10-22T18:01:00.000Z", "window_start": "2024-10-22T18:00:00.000Z"}
OUT
python3 "$LIB/canon.py" "$T/want-tumble.jsonl" >"$T/want-tumble.sorted"
same_lines "$T/want-tumble.sorted" "$T/got-tumble.jsonl" "tumbling rows"
python3 "$LIB/canon.py" "$T/tumble-late" >"$T/got-tl.jsonl"
echo '{"k": "z", "ts": "2024-10-22T18:00:02.000Z", "v": 0}' >"$T/want-tl.jsonl"
same_lines "$T/want-tl.jsonl" "$T/got-tl.jsonl" "tumbling late rows"
python3 "$LIB/canon.py" "$T/sess" >"$T/got-sess.jsonl"
cat >"$T/want-sess.jsonl" <<'OUT'
{"k": "a", "n": 3, "s": 3, "window_end": "2024-10-22T18:01:35.000Z", "window_start": "2024-10-22T18:00:05.000Z"}
{"k": "a", "n": 1, "s": 4, "window_end": "2024-10-22T18:03:55.000Z", "window_start": "2024-10-22T18:03:10.000Z"}
{"k": "b", "n": 1, "s": null, "window_end": "2024-10-22T18:01:25.000Z", "window_start": "2024-10-22T18:00:40.000Z"}
{"k": "c", "n": 1, "s": 5, "window_end": "2024-10-22T18:05:45.000Z", "window_start": "2024-10-22T18:05:00.000Z"}
{"k": "z", "n": 1, "s": 0, "window_end": "2024-10-22T18:10:45.000Z", "window_start": "2024-10-22T18:10:00.000Z"}
{"k": null, "n": 1, "s": 7, "window_end": "2024-10-22T18:01:15.000Z", "window_start": "2024-10-22T18:00:30.000Z"}
OUT
python3 "$LIB/canon.py" "$T/want-sess.jsonl" >"$T/want-sess.sorted"
same_lines "$T/want-sess.sorted" "$T/got-sess.jsonl" "session rows"
python3 "$LIB/canon.py" --field ts "$T/sess-late" >"$T/got-sl.txt"
printf '%s\n' 2024-10-22T18:00:01.000Z 2024-10-22T18:00:02.000Z 2024-10-22T18:00:59.000Z \
    2024-10-22T18:01:30.000Z >"$T/want-sl.txt"
same_lines "$T/want-sl.txt" "$T/got-sl.txt" "session late rows"
pass "window fixture"

# Sessions merged by an out-of-order record (bound 60 s): d's two sessions are bridged by
# 18:06:30, and e's second record starts exactly where its first session ends (touching
# sessions merge, as in Flink).
cat >"$T/in2.jsonl" <<'IN'
{"k":"d","v":1,"ts":"2024-10-22T18:06:00Z"}
{"k":"d","v":2,"ts":"2024-10-22T18:07:00Z"}
{"k":"d","v":4,"ts":"2024-10-22T18:06:30Z"}
{"k":"e","v":1,"ts":"2024-10-22T18:06:10Z"}
{"k":"e","v":1,"ts":"2024-10-22T18:06:55Z"}
{"k":"f","v":9,"ts":"2024-10-22T18:20:00Z"}
IN
cat >"$T/job2.json" <<JOB
{"name": "bridge", "operators": [
  {"id": "in", "type": "source.file", "parallelism": 1, "path": "$T/in2.jsonl", "batch_rows": 1,
   "schema": {"k": "string", "v": "int", "ts": "timestamp"},
   "event_time": {"field": "ts", "max_out_of_orderness": "60s"}},
  {"id": "sess", "type": "window", "key_by": ["k"], "window": {"type": "session", "gap": "45s"},
   "aggregates": {"n": "count(*)", "s": "sum(v)"}},
  {"id": "x", "type": "sink.file", "path": "$T/bridge"}
]}
JOB
expect_exit 0 "$CFCTL" local -p 2 "$T/job2.json"
python3 "$LIB/canon.py" "$T/bridge" >"$T/got-bridge.jsonl"
cat >"$T/want-bridge.jsonl" <<'OUT'
{"k": "d", "n": 3, "s": 7, "window_end": "2024-10-22T18:07:45.000Z", "window_start": "2024-10-22T18:06:00.000Z"}
{"k": "e", "n": 2, "s": 2, "window_end": "2024-10-22T18:07:40.000Z", "window_start": "2024-10-22T18:06:10.000Z"}
{"k": "f", "n": 1, "s": 9, "window_end": "2024-10-22T18:20:45.000Z", "window_start": "2024-10-22T18:20:00.000Z"}
OUT
python3 "$LIB/canon.py" "$T/want-bridge.jsonl" >"$T/want-bridge.sorted"
same_lines "$T/want-bridge.sorted" "$T/got-bridge.jsonl" "bridged sessions"
pass "session bridging"
