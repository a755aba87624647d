#!/usr/bin/env python3
"""Expected Redis contents for the sink.redis tests, computed independently from the input.

usage: redis_ref.py SCENARIO INPUT.jsonl [DB]

Prints sorted JSON lines {"key", "type", "ttl": [lo, hi], "value"} in the format of
redis_dump.py (a TTL range, since time passes between write and read; [-1, -1] = none).
Scenarios (the jobs are in the test scripts and examples/redis/query-analytics.json):
  example   the query-analytics example: 20 s windows per user type as JSON strings
            (30d TTL), 1-minute success/failure hashes (30d TTL), INCRBY counters
  modes     0031-redis-modes.sh; DB 0: hashes per (user_type, year, 30 s window) with a
            NULL year in the key as "null" and NULL fields absent (PX TTL 100001 ms),
            INCRBY counters; DB 3: SET of an int expression (NULL rows skipped) and of a
            timestamp
  rows      one key row:<query_id> per input row holding the row as JSON (0033)
The input rows are in event-time order within the sources' 2 s bound, so no row is late
and every window is complete.
"""
import datetime as dt
import json
import sys
from collections import OrderedDict, defaultdict

scenario, path = sys.argv[1], sys.argv[2]
db = int(sys.argv[3]) if len(sys.argv) > 3 else 0
rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
DAY30 = 30 * 86400
out = []


def iso(ms):
    t = dt.datetime.fromtimestamp(ms // 1000, tz=dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)


def compact(obj):
    return json.dumps(obj, separators=(",", ":"))


def put(key, typ, ttl, value):
    out.append({"key": key, "type": typ, "ttl": ttl, "value": value})


def windows(size_ms, *fields):
    groups = defaultdict(list)
    for r in rows:
        start = r["ts"] - r["ts"] % size_ms
        groups[tuple(r[f] for f in fields) + (start,)].append(r)
    return groups


def text(v):
    return str(v)


if scenario == "example":
    for (ut, start), g in windows(20000, "user_type").items():
        row = OrderedDict(user_type=ut, window_start=iso(start), window_end=iso(start + 20000),
                          queries=len(g), distinct_users=len({r["identifier"] for r in g}),
                          avg_response_ms=float(sum(r["response_ms"] for r in g)) / len(g))
        put("analytics:user_type:%s:%s" % (ut, iso(start)), "string", [DAY30 - 600, DAY30],
            compact(row))
    for (ut, start), g in windows(60000, "user_type").items():
        minute = dt.datetime.fromtimestamp(start // 1000, tz=dt.timezone.utc)
        put("analytics:success:%s:%s" % (ut, minute.strftime("%Y-%m-%dT%H:%M")), "hash",
            [DAY30 - 600, DAY30],
            {"user_type": ut, "window_start": iso(start), "window_end": iso(start + 60000),
             "successes": text(sum(r["status"] == "success" for r in g)),
             "failures": text(sum(r["status"] == "failure" for r in g))})
    counts = defaultdict(int)
    for r in rows:
        counts[r["department"]] += 1
    for d, n in counts.items():
        put("analytics:queries:" + d, "string", [-1, -1], text(n))
elif scenario == "modes" and db == 0:
    for (ut, year, start), g in windows(30000, "user_type", "year").items():
        start_t = dt.datetime.fromtimestamp(start // 1000, tz=dt.timezone.utc)
        value = {"user_type": ut, "window_start": iso(start), "window_end": iso(start + 30000),
                 "queries": text(len(g))}
        if year is not None:
            value["year"] = text(year)
            value["max_year"] = text(max(r["year"] for r in g))
        key = "t:%s:%s:%s" % (ut, "null" if year is None else year, start_t.strftime("%H%M%S"))
        put(key, "hash", [95, 100], value)
    counts, ms = defaultdict(int), defaultdict(int)
    for r in rows:
        counts[(r["department"], r["status"])] += 1
        ms[r["department"]] += r["response_ms"]
    for (d, s), n in counts.items():
        put("n:{tag}:%s:%s" % (d, s), "string", [-1, -1], text(n))
    for d, n in ms.items():
        put("ms:" + d, "string", [3500, 3600], text(n))
elif scenario == "modes" and db == 3:
    for r in rows:
        if r["status"] == "success":
            put("v:" + r["query_id"], "string", [-1, -1], text(r["response_ms"] * 2))
        day = dt.datetime.fromtimestamp(r["ts"] // 1000, tz=dt.timezone.utc).strftime("%Y%m%d")
        put("ts:%s:%s" % (r["query_id"], day), "string", [-1, -1], iso(r["ts"]))
elif scenario == "rows":
    names = ["query_id", "identifier", "user_type", "department", "year", "status",
             "response_ms", "ts"]
    for r in rows:
        row = OrderedDict((n, iso(r[n]) if n == "ts" else r.get(n)) for n in names)
        put("row:" + r["query_id"], "string", [-1, -1], compact(row))
else:
    sys.exit("unknown scenario " + scenario)

for line in sorted(json.dumps(o, sort_keys=True) for o in out):
    print(line)
