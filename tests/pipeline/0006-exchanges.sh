#!/usr/bin/env bash
# Hash exchange: rows with equal keys meet in one subtask (each sink subtask's part file
# holds a disjoint set of users) and nothing is lost; rebalance (parallelism change) and
# broadcast deliver every row the right number of times.
source "$(dirname "$0")/lib/common.sh"
cat >"$T/hash.json" <<JOB
{"name": "hash", "parallelism": 2, "operators": [
  {"id": "g", "type": "source.datagen", "count": 30000, "users": 300},
  {"id": "keyed", "type": "select", "parallelism": 3, "key_by": ["user_id"],
   "fields": {"user_id": "user_id", "event_id": "event_id"}},
  {"id": "o", "type": "sink.file", "parallelism": 3, "path": "$T/hash"}
]}
JOB
expect_exit 0 "$CFCTL" plan "$T/hash.json"
grep -q "via HASH by (user_id)" "$T/stdout" || fail "plan shows no hash exchange"
expect_exit 0 "$CFCTL" local "$T/hash.json"
python3 - "$T/hash" <<'PY'
import json, os, sys
from collections import defaultdict
owner, rows = {}, 0
for f in os.listdir(sys.argv[1]):
    sub = f.split("-")[2]  # part-<run>-<subtask>-<n>.json
    for line in open(os.path.join(sys.argv[1], f)):
        r = json.loads(line); rows += 1
        assert owner.setdefault(r["user_id"], sub) == sub, "user in two subtasks"
assert rows == 30000, rows
assert len(set(owner.values())) == 3, "not spread over 3 subtasks"
PY
cat >"$T/rebalance.json" <<JOB
{"name": "rebalance", "operators": [
  {"id": "g", "type": "source.datagen", "count": 20000},
  {"id": "wide", "type": "filter", "parallelism": 4, "where": "TRUE"},
  {"id": "o", "type": "sink.file", "parallelism": 4, "path": "$T/rebalance"},
  {"id": "all", "type": "sink.file", "input": "g", "parallelism": 2, "exchange": "broadcast", "path": "$T/broadcast"}
]}
JOB
expect_exit 0 "$CFCTL" plan "$T/rebalance.json"
grep -q "via REBALANCE" "$T/stdout" || fail "plan shows no rebalance"
grep -q "via BROADCAST" "$T/stdout" || fail "plan shows no broadcast"
expect_exit 0 "$CFCTL" local "$T/rebalance.json"
[ "$(python3 "$LIB/canon.py" --field event_id "$T/rebalance" | sort -u | wc -l)" -eq 20000 ] || fail "rebalance lost rows"
[ "$(cat "$T"/rebalance/part-* | wc -l)" -eq 20000 ] || fail "rebalance duplicated rows"
[ "$(ls "$T"/rebalance | cut -d- -f3 | sort -u | wc -l)" -eq 4 ] || fail "rebalance used fewer than 4 subtasks"
[ "$(cat "$T"/broadcast/part-* | wc -l)" -eq 40000 ] || fail "broadcast: each of 2 subtasks gets every row"
pass "hash, rebalance and broadcast exchanges"
