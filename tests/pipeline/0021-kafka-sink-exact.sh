#!/usr/bin/env bash
# sink.kafka writes every row exactly once (no checkpoints: flushed at the end of the input),
# read back with kcat: values are the rows as JSON, keys the key expression as text (a
# string field, an int field, an expression; no key for NULL), keyed messages sit in the
# partition Kafka's Java client would choose (murmur2), and message timestamps are the rows'
# event times. At -p 1 and -p 2. delivery: exactly_once without exactly_once checkpoints
# writes at least once and says so.
source "$(dirname "$0")/lib/common.sh"
source "$LIB/kafka.sh"
N=${CF_KAFKA_EVENTS:-5000}
mkdir -p "$T/in"
python3 - "$N" >"$T/in/rows.jsonl" <<'PY'
import json, random, sys
r = random.Random(3)
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": i, "user": None if r.random() < 0.05 else "user-%d" % r.randrange(300),
                      "amount": None if r.random() < 0.1 else r.randrange(-50, 5000),
                      "note": r.choice(["", "tab\there", "quote\"s", "caf\u00e9", "new\nline"]),
                      "ts": 1729620000000 + i * 37}))
PY
CF_KAFKA_MOCK_BROKERS=2 kafka_start by-user:3 by-amount:5 no-key:2 eo:1 expr-key:4

cat >"$T/job.json" <<JOB
{"name": "kafka-sink", "operators": [
  {"id": "rows", "type": "source.file", "path": "$T/in",
   "schema": {"id": "int", "user": "string", "amount": "int", "note": "string",
              "ts": "timestamp"},
   "event_time": {"field": "ts"}},
  {"id": "to-by-user", "type": "sink.kafka", "brokers": "$KAFKA", "topic": "TOPIC1",
   "key": "user"},
  {"id": "to-by-amount", "type": "sink.kafka", "input": "rows", "brokers": "$KAFKA",
   "topic": "TOPIC2", "key": "amount", "properties": {"linger.ms": 2, "batch.num.messages": 1000}},
  {"id": "to-no-key", "type": "sink.kafka", "input": "rows", "brokers": "$KAFKA",
   "topic": "TOPIC3"}
]}
JOB

consume() {
    kafka_consume "$1" '%p\t%k\t%T\t%s\n' >"$T/$1.tsv"
    python3 "$LIB/kafka_check_sink.py" "$T/in/rows.jsonl" "$T/$1.tsv" "$2" "$3" ts ||
        fail "$1: messages differ from the rows"
}

for p in 1 2; do
    # Fresh topics per run (auto-created by the mock with 4 partitions).
    sed "s#TOPIC1#by-user-p$p#; s#TOPIC2#by-amount-p$p#; s#TOPIC3#no-key-p$p#" "$T/job.json" \
        >"$T/job-p$p.json"
    expect_exit 0 "$CFCTL" local --port 0 -p "$p" "$T/job-p$p.json"
    consume "by-user-p$p" 4 user
    consume "by-amount-p$p" 4 amount
    consume "no-key-p$p" 4 -
    pass "-p $p: $N rows to each of 3 topics, keys, partitions and timestamps as expected"
done

# Topics created up front with their own partition counts; a computed key.
sed "s#TOPIC1#by-user#; s#TOPIC2#by-amount#; s#TOPIC3#no-key#" "$T/job.json" >"$T/job-pre.json"
expect_exit 0 "$CFCTL" local --port 0 -p 2 "$T/job-pre.json"
consume by-user 3 user
consume by-amount 5 amount
consume no-key 2 -
pass "topics with 3, 5 and 2 partitions"

cat >"$T/job-expr.json" <<JOB
{"name": "kafka-sink-expr", "operators": [
  {"id": "rows", "type": "source.file", "path": "$T/in",
   "schema": {"id": "int", "user": "string", "amount": "int", "note": "string",
              "ts": "timestamp"},
   "event_time": {"field": "ts"}},
  {"id": "out", "type": "sink.kafka", "brokers": "$KAFKA", "topic": "expr-key",
   "key": "concat(coalesce(user, 'nobody'), '/', id % 7)"},
  {"id": "out-eo", "type": "sink.kafka", "input": "rows", "brokers": "$KAFKA", "topic": "eo",
   "delivery": "exactly_once"}
]}
JOB
expect_exit 0 "$CFCTL" local --port 0 "$T/job-expr.json"
python3 - "$T/in/rows.jsonl" >"$T/in-keyed.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    r["k"] = "%s/%d" % (r["user"] or "nobody", r["id"] % 7)
    print(json.dumps(r))
PY
kafka_consume expr-key '%p\t%k\t%T\t%s\n' >"$T/expr-key.tsv"
# The sink got rows without k: add it from the key to compare whole rows.
python3 - "$T/expr-key.tsv" >"$T/expr-key-k.tsv" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    p, k, ts, v = line.rstrip("\n").split("\t", 3)
    row = json.loads(v)
    row["k"] = k
    print("\t".join([p, k, ts, json.dumps(row)]))
PY
python3 "$LIB/kafka_check_sink.py" "$T/in-keyed.jsonl" "$T/expr-key-k.tsv" 4 k ts ||
    fail "computed keys"
grep -q "out-eo: delivery exactly_once needs checkpoints in exactly_once mode" "$T/stderr" ||
    fail "no warning for exactly_once without checkpoints"
kafka_consume eo '%p\t%k\t%T\t%s\n' >"$T/eo.tsv"
python3 "$LIB/kafka_check_sink.py" "$T/in/rows.jsonl" "$T/eo.tsv" 1 - ts ||
    fail "exactly_once without checkpoints"
pass "computed keys; exactly_once without checkpoints writes every row once, with a warning"
