#!/usr/bin/env python3
"""Input and independently computed expected output for the window pipeline test.

usage: gen_windows.py N SEED OUT_DIR

Events are in time order with jitter inside the 5 s watermark bound, plus:
  - kind "late_ok": 90 s late; for the 1-minute tumbling window (allowed_lateness 2m) its
    window has fired and is not purged, so it updates the window and re-emits the row;
  - kind "very_late": an hour late; every window containing it is purged: it goes to the
    late side output of each window operator.
Events are 20 ms apart on average, so a 512-row batch spans about 10 s of event time and the
watermark lags the newest event by at most bound + one batch (about 20 s). These margins make
every decision independent of batch boundaries and parallelism.

Writes OUT_DIR/input/events.jsonl and expected-{tumbling,sliding,session}.jsonl,
expected-late-{tumbling,sliding,session}.txt (event ids), all sorted canonically.
"""
import datetime as dt
import json
import os
import random
import sys
from collections import defaultdict

n, seed, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rnd = random.Random(seed)
os.makedirs(os.path.join(out, "input"), exist_ok=True)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
BASE = 1729620000000  # 2024-10-22T18:00:00Z
MIN = 60000


def iso(ms):
    d = EPOCH + dt.timedelta(milliseconds=ms)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


TYPES = ["student", "faculty", "staff", "guest", None]
events = []
t = BASE
for i in range(n):
    t += rnd.randrange(0, 5) * 10  # 0..40 ms (20 ms on average), multiples of 10 ms
    ts = t - rnd.randrange(0, 401) * 10  # jitter up to 4 s, inside the 5 s bound
    kind = "normal"
    if t - BASE > 62 * MIN and rnd.random() < 0.002:
        kind, ts = "very_late", t - 3600 * 1000 - rnd.randrange(0, 600) * 10
    elif t - BASE > 5 * MIN and rnd.random() < 0.003:
        kind, ts = "late_ok", t - 90 * 1000
    ut = rnd.choice(TYPES)
    score = None if (ut == "guest" or rnd.random() < 0.3) else rnd.randrange(0, 1000)
    # Users come in shifts: 20 are active for 3 minutes, then idle for 6, so sessions end.
    user = "u%d" % (rnd.randrange(20) + 20 * ((t - BASE) // (3 * MIN) % 3))
    events.append({"id": "e%06d" % i, "kind": kind, "user_id": user, "user_type": ut,
                   "country": rnd.choice(["DE", "US", "FR"]), "score": score,
                   "ms": rnd.randrange(1, 5000), "ts": ts})

with open(os.path.join(out, "input", "events.jsonl"), "w") as f:
    for e in events:
        rec = dict(e)
        rec["ts"] = iso(e["ts"]) if rnd.random() < 0.5 else e["ts"]
        f.write(json.dumps(rec) + "\n")


def first_last(vals, last):
    """vals: (ts, value); first = smallest ts, ties smallest value; last = the opposite."""
    vals = [v for v in vals if v[1] is not None]
    if not vals:
        return None
    return (max if last else min)(vals)[1]


def aggs(rows):
    scores = [r["score"] for r in rows if r["score"] is not None]
    return {
        "events": len(rows),
        "scored": len(scores),
        "total": sum(scores) if scores else None,
        "lo": min(scores) if scores else None,
        "hi": max(scores) if scores else None,
        "avg_ms": sum(r["ms"] for r in rows) / len(rows),
        "users": len({r["user_id"] for r in rows}),
        "first_user": first_last([(r["ts"], r["user_id"]) for r in rows], False),
        "last_user": first_last([(r["ts"], r["user_id"]) for r in rows], True),
    }


def dump(name, rows):
    with open(os.path.join(out, name), "w") as f:
        for line in sorted(json.dumps(r, sort_keys=True) for r in rows):
            f.write(line + "\n")


# Tumbling 1 minute by user_type, allowed_lateness 2m: one row per (key, window) from the
# on-time records, then one more row for each late_ok record with everything so far.
on_time = defaultdict(list)
for e in events:
    if e["kind"] == "normal":
        w = e["ts"] // MIN * MIN
        on_time[(e["user_type"], w)].append(e)
rows = []
for (ut, w), rs in on_time.items():
    rows.append(dict(user_type=ut, window_start=iso(w), window_end=iso(w + MIN), **aggs(rs)))
for e in events:
    if e["kind"] == "late_ok":
        w = e["ts"] // MIN * MIN
        on_time[(e["user_type"], w)].append(e)
        rows.append(dict(user_type=e["user_type"], window_start=iso(w), window_end=iso(w + MIN),
                         **aggs(on_time[(e["user_type"], w)])))
dump("expected-tumbling.jsonl", rows)

# Sliding 10 minutes every minute by country, over normal records only.
slid = defaultdict(list)
for e in events:
    if e["kind"] == "normal":
        last = e["ts"] // MIN * MIN
        for s in range(last - 9 * MIN, last + 1, MIN):
            slid[(e["country"], s)].append(e)
rows = [dict(country=c, window_start=iso(s), window_end=iso(s + 10 * MIN), events=len(rs),
             users=len({r["user_id"] for r in rs}), total_ms=sum(r["ms"] for r in rs))
        for (c, s), rs in slid.items()]
dump("expected-sliding.jsonl", rows)

# Sessions by user, gap 30005 ms (timestamps are multiples of 10 ms, so no record ever lands
# exactly on a session's end), over normal records only.
GAP = 30005
by_user = defaultdict(list)
for e in events:
    if e["kind"] == "normal":
        by_user[e["user_id"]].append(e)
rows = []
for u, rs in by_user.items():
    rs.sort(key=lambda r: r["ts"])
    cur = [rs[0]]
    end = rs[0]["ts"] + GAP
    for r in rs[1:]:
        if r["ts"] <= end:
            cur.append(r)
            end = max(end, r["ts"] + GAP)
        else:
            rows.append(dict(user_id=u, window_start=iso(cur[0]["ts"]), window_end=iso(end),
                             events=len(cur), total_ms=sum(x["ms"] for x in cur)))
            cur, end = [r], r["ts"] + GAP
    rows.append(dict(user_id=u, window_start=iso(cur[0]["ts"]), window_end=iso(end),
                     events=len(cur), total_ms=sum(x["ms"] for x in cur)))
dump("expected-session.jsonl", rows)

very_late = sorted(e["id"] for e in events if e["kind"] == "very_late")
for name in ("tumbling", "sliding", "session"):
    with open(os.path.join(out, "expected-late-%s.txt" % name), "w") as f:
        f.write("".join(i + "\n" for i in very_late))
print("events %d, late_ok %d, very_late %d" % (
    len(events), sum(e["kind"] == "late_ok" for e in events), len(very_late)))
