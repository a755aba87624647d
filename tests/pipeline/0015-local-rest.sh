#!/usr/bin/env bash
# cfctl local serves the REST API with Flink's shapes: overview, config, jobs, job details
# with per-vertex metrics, vertex details/backpressure/watermarks, plan, exceptions, metrics; unknown jobs get 404 with "errors";
# PATCH ?mode=cancel cancels the job (cfctl exits 1, CANCELED).
source "$(dirname "$0")/lib/common.sh"
cat >"$T/job.json" <<JOB
{"name": "rest", "parallelism": 2, "operators": [
  {"id": "clicks", "type": "source.datagen", "rate": 2000, "event_time": {"field": "ts"}},
  {"id": "per-type", "type": "window", "key_by": ["event_type"],
   "window": {"type": "tumbling", "size": "10s"}, "aggregates": {"n": "count(*)"}},
  {"id": "out", "type": "sink.file", "path": "$T/out"}
]}
JOB
"$CFCTL" local -q --port 0 "$T/job.json" >"$T/stdout" 2>"$T/stderr" &
pid=$!
for _ in $(seq 50); do
    grep -q 'REST API on' "$T/stderr" && break
    sleep 0.1
done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/stderr") || fail "no REST URL: $(cat "$T/stderr")"
sleep 1
python3 - "$url" <<'PY'
import json, sys, urllib.request, urllib.error
url = sys.argv[1]
def get(path, method="GET"):
    req = urllib.request.Request(url + path, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
s, body = get("/overview"); o = json.loads(body)
assert s == 200 and o["taskmanagers"] == 1 and o["slots-total"] == 2 and o["jobs-running"] == 1, o
s, body = get("/config"); assert s == 200 and "refresh-interval" in json.loads(body)
s, body = get("/jobs"); jobs = json.loads(body)["jobs"]
assert len(jobs) == 1 and jobs[0]["status"] == "RUNNING" and len(jobs[0]["id"]) == 32, jobs
jid = jobs[0]["id"]
s, body = get("/jobs/overview"); j = json.loads(body)["jobs"][0]
assert j["jid"] == jid and j["name"] == "rest" and j["state"] == "RUNNING" and j["tasks"]["total"] == 4, j
s, body = get("/jobs/" + jid); d = json.loads(body)
assert d["jid"] == jid and d["state"] == "RUNNING" and len(d["vertices"]) == 2, d
v0, v1 = d["vertices"]
assert v0["name"] == "Source: clicks" and v0["parallelism"] == 2, v0
assert v0["metrics"]["write-records"] > 0 and v1["metrics"]["read-records"] > 0, d["vertices"]
for key in ("read-records", "write-records", "read-bytes", "accumulated-backpressured-time"):
    assert key in v1["metrics"], key
vid = v1["id"]
s, body = get("/jobs/%s/vertices/%s" % (jid, vid)); x = json.loads(body)
assert s == 200 and x["id"] == vid and x["parallelism"] == 2 and len(x["subtasks"]) == 2, x
assert [t["subtask"] for t in x["subtasks"]] == [0, 1] and all(t["status"] == "RUNNING" for t in x["subtasks"]), x
assert sum(t["metrics"]["read-records"] for t in x["subtasks"]) > 0, x
s, body = get("/jobs/%s/vertices/%s/backpressure" % (jid, vid)); x = json.loads(body)
assert s == 200 and x["status"] == "ok" and x["backpressure-level"] in ("ok", "low", "high") and len(x["subtasks"]) == 2, x
assert all(0 <= t["ratio"] <= 1 for t in x["subtasks"]), x
s, body = get("/jobs/%s/vertices/%s/watermarks" % (jid, vid)); x = json.loads(body)
assert s == 200 and [w["id"] for w in x] == ["0.currentInputWatermark", "1.currentInputWatermark"], x
assert all(int(w["value"]) > 1500000000000 for w in x), x  # event time of the generated clicks
s, body = get("/jobs/%s/vertices/%s" % (jid, "f" * 32)); assert s == 404 and "errors" in json.loads(body), body
s, body = get("/jobs/%s/plan" % jid); nodes = json.loads(body)["plan"]["nodes"]
assert nodes[1]["inputs"][0]["ship_strategy"] == "HASH" and nodes[1]["inputs"][0]["id"] == nodes[0]["id"]
s, body = get("/jobs/%s/exceptions" % jid); assert s == 200 and json.loads(body)["exceptionHistory"]["entries"] == []
s, body = get("/jobs/00000000000000000000000000000000"); assert s == 404 and json.loads(body) == {"errors": ["job 00000000000000000000000000000000 not found"]}, body
s, body = get("/no/such/thing"); assert s == 404 and "errors" in json.loads(body)
s, body = get("/metrics"); assert s == 200 and 'creekflow_operator_records_in_total{job_id="%s",operator="per-type"' % jid in body
s, body = get("/jobs/%s?mode=cancel" % jid, "PATCH"); assert s == 202, (s, body)
print("REST checks passed for", jid)
PY
set +e; wait $pid; rc=$?; set -e
[ "$rc" -eq 1 ] || fail "cfctl exited $rc after a REST cancel, expected 1"
grep -q "rest CANCELED" "$T/stderr" || fail "no CANCELED line"
pass "cfctl local REST API"
