#!/usr/bin/env bash
# examples/lakehouse/run.sh runs end to end (Kafka -> partitioned S3 objects, Kafka -> 5-minute
# windows -> S3, Kafka -> Redis with TTL and Pub/Sub) and its outputs are exact: every input
# event in the object of its topic and hour, the per-user 5-minute windows equal a Python
# computation, one Redis key per (method, minute) with a 30-day TTL, one message per write.
source "$(dirname "$0")/lib.sh"
CFCTL=$BIN/cfctl "$TOP/examples/lakehouse/run.sh" "$T/out" >"$T/run.out" 2>&1 ||
    fail "run.sh: $(tail -5 "$T/run.out")"
python3 - "$T" "$TOP/examples/lakehouse/produce.py" <<'PY' || fail "outputs differ from the reference"
import collections, datetime, json, os, subprocess, sys
t, produce = sys.argv[1], sys.argv[2]
os.makedirs(f"{t}/in", exist_ok=True)
subprocess.run([sys.executable, produce, f"{t}/in"], check=True)
def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
def hour(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("year=%Y/month=%m/day=%d/hour=%H")
inputs = {}
for topic in ("listens", "page-views", "auth"):
    inputs[topic] = [json.loads(l) for p in range(4) for l in open(f"{t}/in/{topic}.{p}.jsonl")]
got = collections.defaultdict(list)
for line in open(f"{t}/out/rows.txt"):
    key, row = line.rstrip("\n").split("\t", 1)
    prefix, part = key.split("/", 1)
    got[prefix].append((part.rsplit("/", 1)[0], json.loads(row)))
for topic, events in inputs.items():
    rows = got[topic]
    assert len(rows) == len(events), f"{topic}: {len(rows)} rows, {len(events)} events"
    want = sorted((hour(e["ts"]), e["user_id"], e["ts"]) for e in events)
    have = sorted((p, r["user_id"], int(datetime.datetime.strptime(r["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)) for p, r in rows)
    assert want == have, f"{topic}: rows or partitions differ"
win = collections.defaultdict(lambda: [0, 0, set()])
for e in inputs["page-views"]:
    w = e["ts"] - e["ts"] % 300000
    acc = win[(e["user_id"], w)]
    acc[0] += 1; acc[1] += e["duration_ms"]; acc[2].add(e["page_url"])
want = sorted((hour(w), json.dumps({"user_id": u, "window_start": iso(w), "window_end": iso(w + 300000),
              "events": a[0], "total_ms": a[1], "pages": len(a[2])}, separators=(",", ":")))
              for (u, w), a in win.items())
have = sorted((p, json.dumps(r, separators=(",", ":"))) for p, r in got["page-views-per-user-5m"])
assert want == have, f"5-minute windows: {len(have)} rows, want {len(want)}"
auth = collections.defaultdict(lambda: [0, 0, set()])
for e in inputs["auth"]:
    w = e["ts"] - e["ts"] % 60000
    a = auth[(e["method"], w)]
    a[0] += 1; a[1] += e["result"] == "fail"; a[2].add(e["user_id"])
redis = {}
for line in open(f"{t}/out/redis.txt"):
    k, ttl, v = line.rstrip("\n").split("\t", 2)
    assert 2591000 < int(ttl) <= 2592000, f"TTL {ttl}"
    redis[k] = json.loads(v)
want = {f"analytics:auth:{m}:{iso(w)}": {"method": m, "window_start": iso(w), "window_end": iso(w + 60000),
        "attempts": a[0], "failures": a[1], "users": len(a[2])} for (m, w), a in auth.items()}
assert redis == want, f"redis: {len(redis)} keys, want {len(want)}"
msgs = int(open(f"{t}/out/messages.txt").read()) - 1
assert msgs == len(want), f"{msgs} messages for {len(want)} writes"
print(f"{sum(len(v) for v in inputs.values())} events, {len(have)} windows, {len(redis)} keys")
PY
pass "lakehouse example: raw events by hour in S3, 5-minute windows in S3, auth analytics in Redis, all exact"
