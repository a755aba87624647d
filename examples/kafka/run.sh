#!/usr/bin/env bash
# Runs the Kafka examples against a throwaway bin/cf-kafka-mock and shows what they wrote:
#   1. clickstream-produce.json: 30,000 generated clickstream events -> topic `clickstream`
#      (sink.kafka, keyed by user_id, 4 partitions);
#   2. two malformed records are added with kcat, to show the source's errors output;
#   3. clickstream-per-type.json: source.kafka reads `clickstream` up to its end offsets
#      (stop: latest), 1-minute event-time windows per event type, results -> topic
#      `clicks-per-type` (sink.kafka), bad records printed on stderr.
#
# usage: examples/kafka/run.sh [OUT_DIR]
#   Starts cf-kafka-mock on 127.0.0.1 (port $KAFKA_PORT, or a free one), runs both jobs with
#   bin/cfctl local (or $CFCTL), prints a summary and stops the mock. With OUT_DIR, also
#   writes OUT_DIR/clicks-per-type.jsonl (the result messages) and OUT_DIR/errors.txt (the
#   job's stderr) for tests to check.
# Against your own Kafka on 127.0.0.1:9092 (or bin/cf-kafka-mock --topic clickstream:4):
#   bin/cfctl local examples/kafka/clickstream-produce.json
#   bin/cfctl local examples/kafka/clickstream-per-type.json
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
CFCTL=${CFCTL:-$TOP/bin/cfctl}
MOCK=$(dirname "$CFCTL")/cf-kafka-mock
[ -x "$MOCK" ] || MOCK=$TOP/bin/cf-kafka-mock
OUT=${1:-}
MULT=${CF_TEST_TIMEOUT_MULT:-1}
work=$(mktemp -d "${TMPDIR:-/tmp}/cf-kafka-example.XXXXXX")
mock=
cleanup() {
    if [ -n "$mock" ]; then
        kill "$mock" 2>/dev/null || true
        wait "$mock" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

"$MOCK" --port "${KAFKA_PORT:-0}" --topic clickstream:4 --topic clicks-per-type:2 \
    >"$work/mock.out" 2>"$work/mock.err" &
mock=$!
for ((i = 0; ; i++)); do
    [ -s "$work/mock.out" ] && break
    if ((i > 100 * MULT)); then cat "$work/mock.err" >&2; echo "cf-kafka-mock did not start" >&2; exit 1; fi
    sleep 0.05
done
brokers=$(head -1 "$work/mock.out")
echo "cf-kafka-mock on $brokers"

for job in clickstream-produce clickstream-per-type; do
    sed "s#127.0.0.1:9092#$brokers#g" "examples/kafka/$job.json" >"$work/$job.json"
done
"$CFCTL" local --port 0 -q "$work/clickstream-produce.json"
printf '%s\n' 'not json at all' '{"event_id": "e-bad", "duration_ms": "slow"}' |
    kcat -b "$brokers" -P -t clickstream -p 0
echo "topic clickstream: $(kcat -b "$brokers" -C -t clickstream -e -q -f '.\n' | wc -l) messages"

"$CFCTL" local --port 0 -q "$work/clickstream-per-type.json" 2>"$work/errors.txt"
kcat -b "$brokers" -C -t clicks-per-type -e -q -f '%s\n' >"$work/results.jsonl"
echo "topic clicks-per-type: $(wc -l <"$work/results.jsonl") window results, e.g."
kcat -b "$brokers" -C -t clicks-per-type -e -q -c 3 -f '  key %k: %s\n'
echo "bad records (events.errors, printed by the job on stderr):"
grep '"location"' "$work/errors.txt" | sed 's/^/  /'

if [ -n "$OUT" ]; then
    mkdir -p "$OUT"
    cp "$work/results.jsonl" "$OUT/clicks-per-type.jsonl"
    cp "$work/errors.txt" "$OUT/errors.txt"
fi
