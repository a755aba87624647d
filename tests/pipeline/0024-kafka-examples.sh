#!/usr/bin/env bash
# examples/kafka: the example specs validate, and examples/kafka/run.sh (cf-kafka-mock,
# datagen -> sink.kafka, kcat, source.kafka -> window -> sink.kafka) gives exactly the window
# rows the same pipeline gives without Kafka (datagen -> window -> sink.file), and reports the
# two malformed records with their topic/partition@offset.
source "$(dirname "$0")/lib/common.sh"
for job in "$TOP"/examples/kafka/*.json; do
    expect_exit 0 "$CFCTL" validate "$job"
done
CFCTL=$CFCTL "$TOP/examples/kafka/run.sh" "$T/out" >"$T/run.out" 2>"$T/run.err" ||
    { cat "$T/run.out" "$T/run.err" >&2; fail "examples/kafka/run.sh failed"; }
python3 "$LIB/canon.py" "$T/out/clicks-per-type.jsonl" >"$T/got.jsonl"

# The same events and windows without Kafka.
python3 - "$TOP/examples/kafka" "$T" <<'PY'
import json, sys
src, t = sys.argv[1], sys.argv[2]
produce = json.load(open(src + "/clickstream-produce.json"))
consume = json.load(open(src + "/clickstream-per-type.json"))
ops = [produce["operators"][0]]
ops += [o for o in consume["operators"] if o["type"] in ("filter", "window")]
ops.append({"id": "out", "type": "sink.file", "path": t + "/ref"})
json.dump({"name": "reference", "operators": ops}, open(t + "/ref.json", "w"))
PY
expect_exit 0 "$CFCTL" local --port 0 "$T/ref.json"
python3 "$LIB/canon.py" "$T/ref" >"$T/want.jsonl"
[ "$(wc -l <"$T/want.jsonl")" -ge 20 ] || fail "reference too small"
same_lines "$T/want.jsonl" "$T/got.jsonl" "window rows through Kafka"
grep -q '"raw":"not json at all".*"location":"clickstream/0@[0-9]*"' "$T/out/errors.txt" ||
    fail "malformed record not reported"
grep -q "field 'duration_ms': expected int" "$T/out/errors.txt" || fail "mistyped record not reported"
pass "examples/kafka: $(wc -l <"$T/got.jsonl") window rows through Kafka equal the direct run"
