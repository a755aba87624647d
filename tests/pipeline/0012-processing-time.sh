#!/usr/bin/env bash
# Processing-time windows: rows are counted in windows of the wall clock; every record is
# counted exactly once and windows are aligned to the size.
source "$(dirname "$0")/lib/common.sh"
cat >"$T/job.json" <<JOB
{"name": "ptime", "operators": [
  {"id": "clicks", "type": "source.datagen", "count": 3000, "rate": 1500},
  {"id": "per-sec", "type": "window", "key_by": ["event_type"], "time": "processing",
   "window": {"type": "tumbling", "size": "1s"}, "aggregates": {"n": "count(*)"}},
  {"id": "out", "type": "sink.file", "path": "$T/out"}
]}
JOB
expect_exit 0 "$CFCTL" local "$T/job.json"
python3 - "$T/out" <<'PY'
import datetime as dt, json, os, sys
rows = [json.loads(l) for f in os.listdir(sys.argv[1]) for l in open(os.path.join(sys.argv[1], f))]
assert sum(r["n"] for r in rows) == 3000, sum(r["n"] for r in rows)
starts = {r["window_start"] for r in rows}
assert len(starts) >= 2, starts
for r in rows:
    assert r["window_start"].endswith(":00.000Z") or r["window_start"][-5:-1] == ".000", r
    s = dt.datetime.fromisoformat(r["window_start"].replace("Z", "+00:00"))
    e = dt.datetime.fromisoformat(r["window_end"].replace("Z", "+00:00"))
    assert (e - s).total_seconds() == 1.0, r
print("windows:", len(starts))
PY
pass "processing-time windows"
