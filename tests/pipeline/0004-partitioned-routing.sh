#!/usr/bin/env bash
# Events routed by type into <type>/year=/month=/day=/hour= partitions: every row lands in
# the partition its type and event time name, nothing else, and bad lines reach the errors
# sink. Runs the shipped example, so the example is tested too.
source "$(dirname "$0")/lib/common.sh"
sed "s#examples/data#$TOP/examples/data#; s#out/#$T/out/#g" "$TOP/examples/events-by-type.json" >"$T/job.json"
expect_exit 0 "$CFCTL" local "$T/job.json"
python3 - "$TOP/examples/data/events.jsonl" "$T/out" <<'PY'
import datetime as dt, json, os, sys
src, out = sys.argv[1], sys.argv[2]
want, bad = {}, []
for line in open(src):
    line = line.rstrip("\n")
    try:
        e = json.loads(line)
        if not isinstance(e.get("ts"), int):
            raise ValueError
    except ValueError:
        bad.append(line)
        continue
    t = dt.datetime.fromtimestamp(e["ts"] / 1000, dt.timezone.utc)
    part = "%s/year=%04d/month=%02d/day=%02d/hour=%02d" % (e["event_type"], t.year, t.month, t.day, t.hour)
    want.setdefault(part, set()).add(e["event_id"])
got = {}
root = os.path.join(out, "events-by-type")
for d, dirs, files in os.walk(root):
    for f in files:
        assert not f.startswith("."), "in-progress file left: " + f
        part = os.path.relpath(d, root)
        for line in open(os.path.join(d, f)):
            r = json.loads(line)
            got.setdefault(part, set()).add(r["event_id"])
assert got == want, (sorted(got), sorted(want))
errs = []
for d, _, files in os.walk(os.path.join(out, "events-by-type-errors")):
    for f in files:
        errs += [json.loads(l)["raw"] for l in open(os.path.join(d, f))]
assert sorted(errs) == sorted(bad), (errs, bad)
print("partitions:", len(got), "rows:", sum(len(v) for v in got.values()), "errors:", len(errs))
PY
pass "routing into partitions"
