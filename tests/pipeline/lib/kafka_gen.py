#!/usr/bin/env python3
"""Input and independently computed expected output for the Kafka source pipeline test.

usage: kafka_gen.py N_PER_PARTITION PARTITIONS SEED OUT_DIR

Writes OUT_DIR/p<k>.txt, one message per line as "<key>\\t<value>" (kcat -K '\\t' -Z: an
empty value is a NULL message), for partition k. Events of one partition are in event-time
order up to a jitter of 4 s, inside the job's 5 s bound, so with per-partition watermarks
(the minimum over partitions) no record is ever late, however the partitions interleave.
Partition k starts k * 90 s later than partition 0 and every partition covers a few
minutes, so a watermark taken over all partitions at once (not per partition) would mark
records of the lagging partitions late.

A few bad records go to partitions 1 and 3: text that is not JSON, a field of the wrong
type, a record without its event time and a NULL message.

Expected (sorted canonical JSON lines):
  expected-filter.jsonl   rows with kind <> 'view' AND amount IS NOT NULL
  expected-window.jsonl   1-minute tumbling windows by kind: events, total (sum of
                          amount), users (count_distinct of user)
  expected-errors.txt     "<location>\\t<raw>\\t<reason substring>" per bad record
"""
import datetime as dt
import json
import os
import random
import sys
from collections import defaultdict

n, parts, seed, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rnd = random.Random(seed)
os.makedirs(out, exist_ok=True)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
BASE = 1729620000000  # 2024-10-22T18:00:00Z
MIN = 60000


def iso(ms):
    d = EPOCH + dt.timedelta(milliseconds=ms)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


events = []
errors = []
bad = {
    1: [(n // 3, "this is not json", "invalid JSON"),
        (n // 2, '{"id": "bad-type", "amount": "12x", "ts": %d}' % (BASE + MIN), "field 'amount'")],
    3: [(n // 4, '{"id": "no-time", "kind": "buy", "amount": 3}', "no event time"),
        (n // 2, None, "no value")],
}
for p in range(parts):
    t = BASE + p * 90000
    lines = []
    inject = {pos: (raw, why) for pos, raw, why in bad.get(p, [])}
    for i in range(n):
        if i in inject:
            raw, why = inject.pop(i)
            errors.append(("events/%d@%d" % (p, len(lines)), raw if raw is not None else "", why))
            lines.append("bad\t" + (raw if raw is not None else ""))
        t += rnd.randrange(0, 9) * 10  # 40 ms apart on average
        ts = t - rnd.randrange(0, 401) * 10
        e = {"id": "p%d-%05d" % (p, i), "user": "u%d" % rnd.randrange(50),
             "kind": rnd.choice(["view", "view", "click", "buy"]),
             "amount": None if rnd.random() < 0.2 else rnd.randrange(1, 500), "ts": ts}
        events.append(e)
        rec = dict(e)
        rec["ts"] = iso(ts) if rnd.random() < 0.5 else ts
        if rec["amount"] is None and rnd.random() < 0.5:
            del rec["amount"]
        lines.append(e["user"] + "\t" + json.dumps(rec))
    with open(os.path.join(out, "p%d.txt" % p), "w") as f:
        f.write("".join(line + "\n" for line in lines))


def dump(name, rows):
    with open(os.path.join(out, name), "w") as f:
        for line in sorted(json.dumps(r, sort_keys=True) for r in rows):
            f.write(line + "\n")


dump("expected-filter.jsonl",
     [dict(e, ts=iso(e["ts"])) for e in events if e["kind"] != "view" and e["amount"] is not None])
win = defaultdict(list)
for e in events:
    win[(e["kind"], e["ts"] // MIN * MIN)].append(e)
rows = []
for (kind, w), rs in win.items():
    amounts = [r["amount"] for r in rs if r["amount"] is not None]
    rows.append({"kind": kind, "window_start": iso(w), "window_end": iso(w + MIN),
                 "events": len(rs), "total": sum(amounts) if amounts else None,
                 "users": len({r["user"] for r in rs})})
dump("expected-window.jsonl", rows)
with open(os.path.join(out, "expected-errors.txt"), "w") as f:
    for loc, raw, why in sorted(errors):
        f.write("%s\t%s\t%s\n" % (loc, raw, why))
print("%d events in %d partitions, %d bad records" % (len(events), parts, len(errors)))
