#!/usr/bin/env bash
# Kafka connector errors: bad specs are rejected before anything runs, with the JSON path;
# brokers that do not answer fail the job after startup_timeout with a message naming them;
# a missing topic fails at once; a broker that dies under a running source is retried with
# warnings until the job is canceled; a sink whose broker dies fails the job once
# message.timeout.ms passes. Never a crash, never a hang.
source "$(dirname "$0")/lib/common.sh"
source "$LIB/kafka.sh"

# --- spec validation (cfctl validate: exit 2, every problem with its path) ---
cat >"$T/bad.json" <<'JOB'
{"name": "bad", "operators": [
  {"id": "a", "type": "source.kafka", "brokers": "127.0.0.1:9092", "topic": "t",
   "topics": ["u"], "schema": {"x": "int"}},
  {"id": "b", "type": "source.kafka", "brokers": "127.0.0.1:9092", "topic": "no/slash",
   "start": "committed", "schema": {"x": "int"},
   "properties": {"bootstrap.servers": "x:1", "group.id": "g", "no.such.property": 1,
                  "fetch.wait.max.ms": "soon", "socket.keepalive.enable": [1]}},
  {"id": "c", "type": "source.kafka", "brokers": "127.0.0.1:9092", "topic": "t",
   "schema": {"x": "int"}, "stop": "sometimes"},
  {"id": "f", "type": "source.kafka", "brokers": "", "topic": "t", "schema": {"x": "int"},
   "batch_rows": 0, "startup_timeout": "1ms"}
]}
JOB
expect_exit 2 "$CFCTL" validate "$T/bad.json"
for want in \
    "operators\[0\]: set one of 'topic' and 'topics'" \
    "operators\[1\].topic: 'no/slash' is not a topic name" \
    "operators\[1\].start: 'committed' needs a 'group'" \
    "operators\[1\].properties.bootstrap.servers: set by the connector; use 'brokers'" \
    "operators\[1\].properties.group.id: set by the connector; use 'group'" \
    "operators\[1\].properties.no.such.property: not a librdkafka property" \
    "operators\[1\].properties.fetch.wait.max.ms: invalid value" \
    "operators\[1\].properties.socket.keepalive.enable: must be a string, number or boolean" \
    "operators\[2\].stop: \"sometimes\" is not one of" \
    "operators\[3\].brokers: must not be empty" \
    "operators\[3\].batch_rows: must be between 1 and" \
    "operators\[3\].startup_timeout: must be at least 100ms"; do
    grep -q "$want" "$T/stderr" || { cat "$T/stderr" >&2; fail "no error matching: $want"; }
done
cat >"$T/bad2.json" <<'JOB'
{"name": "bad2", "operators": [
  {"id": "c", "type": "source.kafka", "brokers": "127.0.0.1:9092", "topic": "t",
   "schema": {"x": "int"}},
  {"id": "d", "type": "sink.kafka", "brokers": "127.0.0.1:9092", "topic": "o", "key": "nope"},
  {"id": "e", "type": "sink.kafka", "input": "c", "brokers": "127.0.0.1:9092", "topic": "o",
   "key": "NULL", "delivery": "twice"},
  {"id": "f", "type": "sink.kafka", "input": "c", "brokers": "127.0.0.1:9092", "topic": "o o",
   "key": "x * 2", "properties": {"transactional.id": "x"}}
]}
JOB
expect_exit 2 "$CFCTL" validate "$T/bad2.json"
for want in \
    "operators\[1\].key: unknown field 'nope'" \
    "operators\[2\].delivery: \"twice\" is not one of at_least_once, exactly_once" \
    "operators\[3\].topic: 'o o' is not a topic name" \
    "operators\[3\].properties.transactional.id: set by the connector; use 'delivery'"; do
    grep -q "$want" "$T/stderr" || { cat "$T/stderr" >&2; fail "no error matching: $want"; }
done
sed 's/"delivery": "twice"/"delivery": "exactly_once"/; s/"o o"/"o"/; s/, "properties": {"transactional.id": "x"}//' \
    "$T/bad2.json" | sed 's/"key": "nope"/"key": "x"/' >"$T/bad3.json"
expect_exit 2 "$CFCTL" validate "$T/bad3.json"
grep -q "operators\[2\].key: is always NULL" "$T/stderr" || fail "NULL key"
pass "bad specs rejected with their JSON paths"

# --- brokers that do not answer ---
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$T/down-src.json" <<JOB
{"name": "down", "operators": [
  {"id": "events", "type": "source.kafka", "brokers": "127.0.0.1:$port", "topic": "t",
   "startup_timeout": "2s", "schema": {"x": "int"}},
  {"id": "out", "type": "sink.print"}
]}
JOB
start=$(date +%s)
expect_exit 1 timeout $((30 * MULT)) "$CFCTL" local --port 0 "$T/down-src.json"
took=$(($(date +%s) - start))
grep -q "cannot reach Kafka brokers '127.0.0.1:$port' within 2s: .*Connection refused" "$T/stderr" ||
    { cat "$T/stderr" >&2; fail "source: no clear error for unreachable brokers"; }
[ "$took" -le $((10 * MULT)) ] || fail "source took ${took}s to give up"
no_sanitizer_report "$T/stderr"
cat >"$T/down-sink.json" <<JOB
{"name": "down", "operators": [
  {"id": "gen", "type": "source.datagen", "count": 10},
  {"id": "out", "type": "sink.kafka", "brokers": "127.0.0.1:$port", "topic": "t",
   "startup_timeout": "2s"}
]}
JOB
expect_exit 1 timeout $((30 * MULT)) "$CFCTL" local --port 0 "$T/down-sink.json"
grep -q "out (subtask 1/1): cannot reach Kafka brokers '127.0.0.1:$port' within 2s" "$T/stderr" ||
    { cat "$T/stderr" >&2; fail "sink: no clear error for unreachable brokers"; }
no_sanitizer_report "$T/stderr"
pass "unreachable brokers fail the job after startup_timeout (${took}s), naming them"

# --- a missing topic ---
kafka_start present:1
sed "s#127.0.0.1:$port#$KAFKA#; s#\"topic\": \"t\"#\"topic\": \"absent\"#" "$T/down-src.json" \
    >"$T/absent.json"
expect_exit 1 timeout $((30 * MULT)) "$CFCTL" local --port 0 "$T/absent.json"
grep -q "topic 'absent' does not exist on brokers '$KAFKA'" "$T/stderr" ||
    { cat "$T/stderr" >&2; fail "no clear error for a missing topic"; }
no_sanitizer_report "$T/stderr"
pass "a missing topic fails the job at once"

# --- the broker dies under a running source: warnings, retries, a clean cancel ---
echo '{"x": 1}' >"$T/one.jsonl"
kafka_produce present 0 "$T/one.jsonl"
sed "s#absent#present#" "$T/absent.json" >"$T/present.json"
"$CFCTL" local --port 0 "$T/present.json" >"$T/run.out" 2>"$T/run.err" &
job=$!
for ((i = 0; i < 200 * MULT; i++)); do grep -q '"x":1' "$T/run.out" && break; sleep 0.05; done
grep -q '"x":1' "$T/run.out" || { cat "$T/run.err" >&2; fail "the source read nothing"; }
kafka_stop
for ((i = 0; i < 200 * MULT; i++)); do
    grep -q "events: kafka.*\(Connect to\|unreachable\|Disconnected\)" "$T/run.err" && break
    sleep 0.05
done
grep -q "events: kafka.*\(Connect to\|unreachable\|Disconnected\)" "$T/run.err" ||
    { cat "$T/run.err" >&2; fail "no warning once the broker is gone"; }
kill -0 "$job" 2>/dev/null || { cat "$T/run.err" >&2; fail "the job ended when the broker died"; }
kill -INT "$job"
rc=0
wait "$job" || rc=$?
[ "$rc" -eq 1 ] || { cat "$T/run.err" >&2; fail "canceled job exited $rc"; }
no_sanitizer_report "$T/run.err"
pass "a source whose broker died keeps retrying with a warning and cancels cleanly"

# --- the broker dies under a sink: the job fails once message.timeout.ms passes ---
kafka_start sinkdown:1
cat >"$T/sinkdown.json" <<JOB
{"name": "sinkdown", "operators": [
  {"id": "gen", "type": "source.datagen", "rate": 500},
  {"id": "out", "type": "sink.kafka", "brokers": "$KAFKA", "topic": "sinkdown",
   "properties": {"message.timeout.ms": 2000}}
]}
JOB
"$CFCTL" local --port 0 "$T/sinkdown.json" >"$T/sd.out" 2>"$T/sd.err" &
job=$!
for ((i = 0; i < 200 * MULT; i++)); do
    [ "$(kcat -b "$KAFKA" -C -t sinkdown -e -q -c 5 2>/dev/null | wc -l)" -ge 5 ] && break
    sleep 0.05
done
kafka_stop
rc=0
for ((i = 0; i < 400 * MULT; i++)); do kill -0 "$job" 2>/dev/null || break; sleep 0.05; done
kill -0 "$job" 2>/dev/null && { kill -INT "$job"; fail "the sink did not fail within 20s"; }
wait "$job" || rc=$?
[ "$rc" -eq 1 ] || { cat "$T/sd.err" >&2; fail "sink job exited $rc"; }
grep -q "out (subtask 1/1): cannot deliver to topic 'sinkdown' on brokers '$KAFKA': .*timed out" \
    "$T/sd.err" || { cat "$T/sd.err" >&2; fail "no clear delivery error"; }
no_sanitizer_report "$T/sd.err"
pass "a sink whose broker died fails the job after message.timeout.ms, naming the topic"

# --- cf-kafka-mock on a fixed port; the same port twice; bad flags ---
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$KAFKA_MOCK" --port "$port" --brokers 3 --topic fixed:6 >"$T/fixed.out" 2>"$T/fixed.err" &
KAFKA_PID=$!
for ((i = 0; i < 100 * MULT; i++)); do [ -s "$T/fixed.out" ] && break; sleep 0.05; done
[ "$(cat "$T/fixed.out")" = "127.0.0.1:$port" ] || fail "printed '$(cat "$T/fixed.out")', not 127.0.0.1:$port"
KAFKA=127.0.0.1:$port
kcat -b "$KAFKA" -L -t fixed >"$T/meta.txt" || fail "kcat -L on the fixed port"
grep -q '3 brokers' "$T/meta.txt" && grep -q 'topic "fixed" with 6 partitions' "$T/meta.txt" ||
    { cat "$T/meta.txt" >&2; fail "metadata through the fixed port"; }
expect_exit 1 "$KAFKA_MOCK" --port "$port"
grep -q "cannot listen on 127.0.0.1:$port: Address already in use" "$T/stderr" ||
    fail "no clear error for a busy port"
kafka_stop
expect_exit 2 "$KAFKA_MOCK" --topic "no good:2"
expect_exit 2 "$KAFKA_MOCK" --brokers 0
expect_exit 2 "$KAFKA_MOCK" --nope
pass "cf-kafka-mock: fixed port with 3 brokers, a busy port and bad flags"
