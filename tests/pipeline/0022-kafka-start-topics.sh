#!/usr/bin/env bash
# source.kafka positions and topics: several topics with different partition counts read as
# one stream (exact rows at -p 1, 2 and 7, where two subtasks own no partition); start:
# latest reads only what is produced after the job started; start: committed resumes from
# the group's committed offsets (here committed by librdkafka's auto-commit, enabled through
# `properties`) and falls back to earliest for a group without any; an unbounded source with
# a subtask that owns no partition, and one with an idle partition (event_time.idle_timeout),
# still advance the watermark, so event-time windows fire.
source "$(dirname "$0")/lib/common.sh"
source "$LIB/kafka.sh"
kafka_start alpha:3 beta:2 live:2 idle:2 grouped:2

# rows FILE PREFIX COUNT [START_MS [STEP_MS]]: JSON lines {"id", "k", "n", "ts"} for kcat.
rows() {
    python3 - "$@" <<'PY'
import json, sys
path, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = int(sys.argv[4]) if len(sys.argv) > 4 else 1729620000000
step = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
with open(path, "w") as f:
    for i in range(count):
        f.write(json.dumps({"id": "%s-%d" % (prefix, i), "k": "all", "n": i,
                            "ts": start + i * step}) + "\n")
PY
}

# wait_for FILE PATTERN WHAT: until a line of FILE matches (bounded).
wait_for() {
    for ((i = 0; i < 300 * MULT; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    cat "$T"/*.err >&2 || true
    fail "timed out waiting for $3"
}

# --- several topics, spread over subtasks ---
: >"$T/all.jsonl"
for t in alpha:3 beta:2; do
    for ((p = 0; p < ${t#*:}; p++)); do
        rows "$T/${t%:*}-$p.jsonl" "${t%:*}$p" 400
        kafka_produce "${t%:*}" "$p" "$T/${t%:*}-$p.jsonl"
        cat "$T/${t%:*}-$p.jsonl" >>"$T/all.jsonl"
    done
done
python3 - "$T/all.jsonl" >"$T/want-topics.jsonl" <<'PY'
import datetime as dt, json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    d = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(milliseconds=r["ts"])
    r["ts"] = d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (r["ts"] % 1000)
    print(json.dumps(r, sort_keys=True))
PY
sort -o "$T/want-topics.jsonl" "$T/want-topics.jsonl"
for p in 1 2 7; do
    cat >"$T/topics-p$p.json" <<JOB
{"name": "kafka-topics", "operators": [
  {"id": "events", "type": "source.kafka", "brokers": "$KAFKA", "topics": ["beta", "alpha"],
   "stop": "latest", "schema": {"id": "string", "k": "string", "n": "int", "ts": "timestamp"},
   "event_time": {"field": "ts"}},
  {"id": "out", "type": "sink.file", "path": "$T/topics-p$p"}
]}
JOB
    expect_exit 0 "$CFCTL" local --port 0 -p "$p" "$T/topics-p$p.json"
    python3 "$LIB/canon.py" "$T/topics-p$p" >"$T/got-topics-p$p.jsonl"
    same_lines "$T/want-topics.jsonl" "$T/got-topics-p$p.jsonl" "two topics at -p $p"
done
grep -q "subtask=7/7 events: reading no partition" "$T/stderr" || fail "subtask 7/7 owns nothing"
pass "topics alpha (3 partitions) and beta (2) read exactly at -p 1, 2 and 7"

# --- start: latest with stop: latest reads nothing ---
cat >"$T/latest-bounded.json" <<JOB
{"name": "kafka-latest", "operators": [
  {"id": "events", "type": "source.kafka", "brokers": "$KAFKA", "topic": "alpha",
   "start": "latest", "stop": "latest", "schema": {"id": "string", "k": "string", "n": "int", "ts": "timestamp"}},
  {"id": "out", "type": "sink.print"}
]}
JOB
expect_exit 0 "$CFCTL" local --port 0 "$T/latest-bounded.json"
[ ! -s "$T/stdout" ] || fail "start: latest, stop: latest read records"
grep -q " 0 records in" "$T/stderr" || fail "start: latest, stop: latest"
pass "start: latest with stop: latest reads nothing"

# --- start: latest, unbounded: only what comes after the start ---
rows "$T/live-old.jsonl" old 50
kafka_produce live 0 "$T/live-old.jsonl"
kafka_produce live 1 "$T/live-old.jsonl"
cat >"$T/live.json" <<JOB
{"name": "kafka-live", "operators": [
  {"id": "events", "type": "source.kafka", "brokers": "$KAFKA", "topic": "live",
   "start": "latest", "schema": {"id": "string", "k": "string", "n": "int", "ts": "timestamp"}},
  {"id": "out", "type": "sink.print", "prefix": ""}
]}
JOB
"$CFCTL" local --port 0 -p 2 "$T/live.json" >"$T/live.out" 2>"$T/live.err" &
job=$!
wait_for "$T/live.err" "subtask=2/2 events: reading live/1@50" "subtask 2 to start reading"
wait_for "$T/live.err" "subtask=1/2 events: reading live/0@50" "subtask 1 to start reading"
rows "$T/live-new.jsonl" new 30
kafka_produce live 1 "$T/live-new.jsonl"
wait_for "$T/live.out" '"id":"new-29"' "the new records"
kill -INT "$job"
rc=0
wait "$job" || rc=$?
[ "$rc" -eq 1 ] || { cat "$T/live.err" >&2; fail "interrupted job exited $rc, expected 1 (canceled)"; }
grep -q CANCELED "$T/live.err" || fail "job not canceled"
no_sanitizer_report "$T/live.err"
[ "$(grep -c '"id":"new-' "$T/live.out")" -eq 30 ] || fail "new records read $(grep -c new- "$T/live.out") times"
! grep -q '"id":"old-' "$T/live.out" || fail "start: latest read old records"
pass "start: latest reads only the 30 records produced after the start; Ctrl-C cancels"

# --- start: committed ---
rows "$T/g1.jsonl" first 100
kafka_produce grouped 0 "$T/g1.jsonl"
kafka_produce grouped 1 "$T/g1.jsonl"
committed_job() { # NAME GROUP AUTOCOMMIT
    cat >"$T/$1.json" <<JOB
{"name": "kafka-$1", "operators": [
  {"id": "events", "type": "source.kafka", "brokers": "$KAFKA", "topic": "grouped",
   "start": "committed", "stop": "latest", "group": "$2",
   "properties": {"enable.auto.commit": $3, "auto.commit.interval.ms": 100},
   "schema": {"id": "string", "k": "string", "n": "int", "ts": "timestamp"}},
  {"id": "out", "type": "sink.print", "prefix": ""}
]}
JOB
}
committed_job run1 g1 true
expect_exit 0 "$CFCTL" local --port 0 "$T/run1.json"
[ "$(grep -c '"id":"first-' "$T/stdout")" -eq 200 ] || fail "first run: $(wc -l <"$T/stdout") records"
rows "$T/g2.jsonl" second 20
kafka_produce grouped 1 "$T/g2.jsonl"
expect_exit 0 "$CFCTL" local --port 0 "$T/run1.json"
[ "$(grep -c '"id":"second-' "$T/stdout")" -eq 20 ] && [ "$(wc -l <"$T/stdout")" -eq 20 ] ||
    { head "$T/stdout" >&2; fail "second run read $(wc -l <"$T/stdout") records, expected the 20 new ones"; }
committed_job other g-never false
expect_exit 0 "$CFCTL" local --port 0 "$T/other.json"
[ "$(wc -l <"$T/stdout")" -eq 220 ] || fail "a group without offsets read $(wc -l <"$T/stdout")"
pass "start: committed resumes from the group's offsets; without any, from the earliest"

# --- watermarks: a subtask without partitions; an idle partition ---
windows_job() { # NAME TOPIC EXTRA_EVENT_TIME
    cat >"$T/$1.json" <<JOB
{"name": "kafka-$1", "operators": [
  {"id": "events", "type": "source.kafka", "brokers": "$KAFKA", "topic": "$2",
   "schema": {"id": "string", "k": "string", "n": "int", "ts": "timestamp"},
   "event_time": {"field": "ts"$3}},
  {"id": "per-minute", "type": "window", "key_by": ["k"],
   "window": {"type": "tumbling", "size": "1m"}, "aggregates": {"events": "count(*)"}},
  {"id": "out", "type": "sink.print", "prefix": ""}
]}
JOB
}
# 180 events 1 s apart in each partition: 120 per minute.
rows "$T/w0.jsonl" w0 180 1729620000000 1000
rows "$T/w1.jsonl" w1 180 1729620000500 1000
windows_job nopart idle ""
# -p 3 over the 2 partitions of a topic with data in both: subtask 3 owns nothing.
kcat -b "$KAFKA" -P -t idle -p 0 -l "$T/w0.jsonl"
kcat -b "$KAFKA" -P -t idle -p 1 -l "$T/w1.jsonl"
"$CFCTL" local --port 0 -p 3 "$T/nopart.json" >"$T/nopart.out" 2>"$T/nopart.err" &
job=$!
wait_for "$T/nopart.out" '"window_start":"2024-10-22T18:01:00.000Z".*"events":120' \
    "windows to fire with a subtask that owns no partition"
kill -INT "$job"
wait "$job" || true
grep -q '"window_start":"2024-10-22T18:00:00.000Z".*"events":120' "$T/nopart.out" ||
    fail "first window at -p 3"
pass "a subtask without partitions does not hold the watermark back"

# Only partition 0 of `sparse` (auto-created by kcat: 4 partitions) gets data: the empty
# partitions hold the watermark back until they are idle for idle_timeout.
windows_job idle sparse ', "idle_timeout": "1s"'
kcat -b "$KAFKA" -P -t sparse -p 0 -l "$T/w0.jsonl"
"$CFCTL" local --port 0 "$T/idle.json" >"$T/idle.out" 2>"$T/idle.err" &
job=$!
wait_for "$T/idle.out" '"window_start":"2024-10-22T18:01:00.000Z".*"events":60' \
    "windows to fire once the empty partitions are idle"
kill -INT "$job"
wait "$job" || true
no_sanitizer_report "$T/nopart.err" "$T/idle.err"
pass "idle partitions stop holding the watermark back after idle_timeout"
