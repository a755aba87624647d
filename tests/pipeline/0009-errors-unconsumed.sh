#!/usr/bin/env bash
# Without a consumer of <id>.errors, bad records are counted and logged (rate-limited), the
# job still finishes, and good rows are all written.
source "$(dirname "$0")/lib/common.sh"
mkdir -p "$T/in"
python3 - "$T/in/x.jsonl" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(5000):
        f.write('{"n": %d}\n' % i if i % 50 else 'oops %d\n' % i)
PY
printf '{"name": "e", "operators": [{"id": "src", "type": "source.file", "path": "%s", "schema": {"n": "int"}}, {"id": "o", "type": "sink.file", "path": "%s"}]}' "$T/in" "$T/out" >"$T/job.json"
expect_exit 0 "$CFCTL" local "$T/job.json"
grep -q "4900 records in" "$T/stderr" || fail "records in: $(tail -1 "$T/stderr")"
grep -q "100 bad records" "$T/stderr" || fail "bad records not counted"
logged=$(grep -c "bad record at" "$T/stderr")
[ "$logged" -ge 1 ] && [ "$logged" -le 20 ] || fail "bad records logged $logged times (rate limit)"
grep -q "route 'src.errors' to a sink" "$T/stderr" || fail "no hint about src.errors"
[ "$(cat "$T"/out/part-* | wc -l)" -eq 4900 ] || fail "good rows lost"
pass "unconsumed errors counted and logged ($logged lines)"
