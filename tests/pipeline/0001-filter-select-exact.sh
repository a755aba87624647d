#!/usr/bin/env bash
# A filter/select job over 200k generated JSON lines (nulls, ISO and epoch timestamps,
# unknown nested fields, ~1% malformed) writes exactly the rows an independent computation
# expects, at -p 1 and -p 2 (1 MB splits, so lines cross split boundaries), and every
# malformed line reaches events.errors.
source "$(dirname "$0")/lib/common.sh"
N=${CF_PIPELINE_EVENTS:-200000}
python3 "$LIB/gen_events.py" "$N" 7 "$T/data"
cat >"$T/job.json" <<JOB
{
  "name": "filter-select",
  "operators": [
    {"id": "events", "type": "source.file", "path": "$T/data/input", "format": "json",
     "split_size": "1MB",
     "schema": {"event_id": "string", "user_id": "string", "event_type": "string",
                "page_url": "string", "ts": "timestamp", "country": "string",
                "duration_ms": "int", "price": "double", "premium": "bool"}},
    {"id": "valid", "type": "filter",
     "where": "user_id IS NOT NULL AND event_type <> 'heartbeat' AND (duration_ms > 500 OR premium)"},
    {"id": "shape", "type": "select", "fields": {
       "event_id": "event_id", "user": "upper(user_id)", "kind": "event_type", "ts": "ts",
       "hour": "hour(ts)", "secs": "duration_ms / 1000", "double_price": "price * 2",
       "country": "coalesce(country, 'XX')", "is_long": "duration_ms > 10000"}},
    {"id": "out", "type": "sink.file", "path": "OUT/rows"},
    {"id": "bad", "type": "sink.file", "input": "events.errors", "path": "OUT/errors"}
  ]
}
JOB
for p in 1 2; do
    sed "s#OUT#$T/out-p$p#g" "$T/job.json" >"$T/job-p$p.json"
    expect_exit 0 "$CFCTL" local -p "$p" "$T/job-p$p.json"
    python3 "$LIB/canon.py" "$T/out-p$p/rows" >"$T/got-p$p.jsonl"
    same_lines "$T/data/expected.jsonl" "$T/got-p$p.jsonl" "rows at -p $p"
    python3 "$LIB/canon.py" --field raw "$T/out-p$p/errors" >"$T/errors-p$p.txt"
    same_lines "$T/data/expected-errors.txt" "$T/errors-p$p.txt" "error rows at -p $p"
    [ -z "$(find "$T/out-p$p" -name '.*')" ] || fail "in-progress files left at -p $p"
    pass "-p $p: $(wc -l <"$T/got-p$p.jsonl") rows, $(wc -l <"$T/errors-p$p.txt") errors"
done
# Every error row says why and where.
python3 - "$T/out-p1/errors" <<'PY'
import json, os, sys
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        for line in open(os.path.join(root, f)):
            r = json.loads(line)
            assert r["error"], r
            assert "@" in r["location"] and r["location"].split("@")[1].isdigit(), r
PY
pass "error rows carry reason and location"
