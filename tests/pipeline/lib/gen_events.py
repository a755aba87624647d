#!/usr/bin/env python3
"""Generates JSON-lines test input for the filter/select pipeline test, and the rows an
independent computation expects, straight from the generated values (not by parsing the
lines back), so the engine's decoder, expressions and encoder are all checked.

usage: gen_events.py N SEED OUT_DIR
writes OUT_DIR/input/events.jsonl, OUT_DIR/expected.jsonl (sorted canonical rows) and
OUT_DIR/expected-errors.txt (the malformed lines, sorted).
"""
import datetime as dt
import json
import os
import random
import sys

n, seed, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rnd = random.Random(seed)
os.makedirs(os.path.join(out, "input"), exist_ok=True)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
BASE = 1729620000000  # 2024-10-22T18:00:00Z


def iso_ms(ms):
    d = EPOCH + dt.timedelta(milliseconds=ms)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def ts_text(ms):
    """One of several encodings of the same instant."""
    k = rnd.randrange(4)
    if k == 0:
        return ms
    if k == 1:
        return iso_ms(ms)
    if k == 2:  # +02:00 offset, no millis when they are 0
        d = EPOCH + dt.timedelta(milliseconds=ms) + dt.timedelta(hours=2)
        frac = ".%03d" % (ms % 1000) if ms % 1000 else ""
        return d.strftime("%Y-%m-%dT%H:%M:%S") + frac + "+02:00"
    return iso_ms(ms)[:-1] + "Z"


def maybe_null(v, p=0.05):
    return None if rnd.random() < p else v


TYPES = ["page_view", "click", "purchase", "heartbeat", "login"]
lines, expected, errors = [], [], []
for i in range(n):
    if rnd.random() < 0.01:
        kind = rnd.randrange(6)
        good = '{"event_id":"bad-%d","user_id":"u1","ts":%d,"duration_ms":5}' % (i, BASE)
        bad = [
            good[: rnd.randrange(5, len(good) - 1)],                    # truncated
            '{"event_id":"bad-%d","duration_ms":"abc"}' % i,            # wrong type
            '{"event_id":"bad-%d","ts":"2024-13-45T00:00:00Z"}' % i,    # impossible date
            "[1,2,%d]" % i,                                             # not an object
            "garbage line %d" % i,                                      # not JSON
            '{"event_id":"bad-%d","duration_ms":2.5}' % i,              # fraction for int
        ][kind]
        lines.append(bad)
        errors.append(bad)
        continue
    ms = BASE + rnd.randrange(0, 6 * 3600 * 1000)
    rec = {
        "event_id": "e-%d" % i,
        "user_id": maybe_null("user-%d" % rnd.randrange(500)),
        "event_type": rnd.choice(TYPES),
        "page_url": "https://x.example/p/%d?q=\"a\\b\"" % rnd.randrange(100),
        "country": maybe_null(rnd.choice(["DE", "US", "FR", "ünï"])),
        "duration_ms": maybe_null(rnd.randrange(0, 20000)),
        "price": maybe_null(round(rnd.uniform(0, 500), 2)),
        "premium": maybe_null(rnd.random() < 0.3),
    }
    obj = dict(rec)
    obj["ts"] = ts_text(ms)
    if rnd.random() < 0.2:
        obj["meta"] = {"tags": [1, {"deep": [None, True, "x"]}], "s": "t}]"}
    if rnd.random() < 0.1:
        del obj["premium"]
        rec["premium"] = None
    keys = list(obj.keys())
    rnd.shuffle(keys)
    lines.append(json.dumps({k: obj[k] for k in keys}, ensure_ascii=rnd.random() < 0.5))

    # The job: filter user_id IS NOT NULL AND event_type <> 'heartbeat'
    #                 AND (duration_ms > 500 OR premium)   -- SQL three-valued logic
    if rec["user_id"] is None or rec["event_type"] == "heartbeat":
        continue
    d, p = rec["duration_ms"], rec["premium"]
    left = None if d is None else d > 500
    cond = True if (left is True or p is True) else (None if (left is None or p is None) else False)
    if cond is not True:
        continue
    expected.append({
        "event_id": rec["event_id"],
        "user": rec["user_id"].upper(),
        "kind": rec["event_type"],
        "ts": iso_ms(ms),
        "hour": (ms // 3600000) % 24,
        "secs": None if d is None else d // 1000,
        "double_price": None if rec["price"] is None else rec["price"] * 2,
        "country": rec["country"] if rec["country"] is not None else "XX",
        "is_long": None if d is None else d > 10000,
    })

with open(os.path.join(out, "input", "events.jsonl"), "w") as f:
    f.write("\n".join(lines) + "\n")
with open(os.path.join(out, "expected.jsonl"), "w") as f:
    for line in sorted(json.dumps(row, sort_keys=True) for row in expected):
        f.write(line + "\n")
with open(os.path.join(out, "expected-errors.txt"), "w") as f:
    for e in sorted(errors):
        f.write(e + "\n")
print("generated %d lines: %d expected rows, %d malformed" % (n, len(expected), len(errors)))
