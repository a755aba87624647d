#!/usr/bin/env bash
# source.datagen's nexmark generator: deterministic by seed at any parallelism, persons,
# auctions and bids in exactly 1:3:46, and the Nexmark id/time arithmetic checked against an
# independent computation (ids from the event number, event times 1/event_rate apart, bids
# on in-flight auctions by active people), plus the value domains of every field.
source "$(dirname "$0")/lib/common.sh"
N=46000
job() { # job NAME SEED DIR [EXTRA_KEYS]
    printf '{"name": "%s", "operators": [{"id": "g", "type": "source.datagen", "generator": "nexmark", "count": %s, "seed": %s%s}, {"id": "o", "type": "sink.file", "path": "%s"}]}' \
        "$1" "$N" "$2" "${4:-}" "$3" >"$T/$1.json"
}
job a 7 "$T/a"
expect_exit 0 "$CFCTL" local -q --port 0 -p 1 "$T/a.json"
job b 7 "$T/b"
expect_exit 0 "$CFCTL" local -q --port 0 -p 3 "$T/b.json"
job c 8 "$T/c"
expect_exit 0 "$CFCTL" local -q --port 0 -p 2 "$T/c.json"
python3 "$LIB/canon.py" "$T/a" >"$T/a.txt"
python3 "$LIB/canon.py" "$T/b" >"$T/b.txt"
python3 "$LIB/canon.py" "$T/c" >"$T/c.txt"
[ "$(wc -l <"$T/a.txt")" -eq "$N" ] || fail "count: $(wc -l <"$T/a.txt")"
same_lines "$T/a.txt" "$T/b.txt" "seed 7 at -p 1 vs -p 3"
cmp -s "$T/a.txt" "$T/c.txt" && fail "seed 8 gave the same events as seed 7"

python3 - "$T/a.txt" "$T/c.txt" "$N" <<'PY'
import collections, json, re, sys
from datetime import datetime, timezone

rows = [json.loads(l) for l in open(sys.argv[1])]
other = [json.loads(l) for l in open(sys.argv[2])]
n = int(sys.argv[3])
start = int(datetime(2024, 10, 22, tzinfo=timezone.utc).timestamp() * 1000)

def ms(s):
    return int(datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() * 1000 + 0.5)

# Independent model of Nexmark's id arithmetic (1 person, 3 auctions, 46 bids per 50 events).
kind = lambda i: "person" if i % 50 == 0 else ("auction" if i % 50 <= 3 else "bid")
last_person = lambda i: i // 50
def last_auction(i):
    epoch, off = divmod(i, 50)
    if off < 1:
        return (epoch - 1) * 3 + 2
    return epoch * 3 + (2 if off >= 4 else off - 1)
ts = lambda i: start + i * 1000 // 10000

# Exact proportions.
counts = collections.Counter(r["event_type"] for r in rows)
want = collections.Counter(kind(i) for i in range(n))
assert counts == want == {"person": 920, "auction": 2760, "bid": 42320}, counts

fields = {"person": {"id", "name", "email_address", "credit_card", "city", "state"},
          "auction": {"id", "item_name", "description", "initial_bid", "reserve", "expires",
                      "seller", "category"},
          "bid": {"auction", "bidder", "price", "channel", "url"}}
every = set().union(*fields.values()) | {"event_type", "date_time", "extra"}
for r in rows:
    assert set(r) == every, set(r) ^ every
    set_fields = {k for k, v in r.items() if v is not None} - {"event_type", "date_time", "extra"}
    assert set_fields == fields[r["event_type"]], r

# Persons: ids 1000.. in event order, event time from the event number.
persons = sorted((r for r in rows if r["event_type"] == "person"), key=lambda r: r["id"])
assert [p["id"] for p in persons] == list(range(1000, 1920))
for p in persons:
    i = (p["id"] - 1000) * 50
    assert ms(p["date_time"]) == ts(i), p
    assert p["state"] in {"AZ", "CA", "ID", "OR", "WA", "WY"}
    assert p["city"] in {"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend",
                         "Redmond", "Seattle", "Kent", "Cheyenne"}
    first, last = p["name"].split(" ")
    assert first in "Peter Paul Luke John Saul Vicky Kate Julie Sarah Deiter Walter".split()
    assert last in "Shultz Abrams Spencer White Bartels Walton Smith Jones Noris".split()
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", p["credit_card"]), p
    word = r"(?:[a-z](?:[a-z ]*[a-z])?)?"  # letters and spaces, trimmed
    assert re.fullmatch(word + "@" + word + r"\.com", p["email_address"]), p

# Auctions: ids 1000.. in event order.
auctions = sorted((r for r in rows if r["event_type"] == "auction"), key=lambda r: r["id"])
assert [a["id"] for a in auctions] == list(range(1000, 3760))
for a in auctions:
    base = a["id"] - 1000
    i = base // 3 * 50 + 1 + base % 3
    assert ms(a["date_time"]) == ts(i), a
    assert 10 <= a["category"] <= 14
    assert 100 <= a["initial_bid"] <= 100_000_000 and a["initial_bid"] < a["reserve"], a
    assert ms(a["expires"]) > ms(a["date_time"])
    assert 1000 <= a["seller"] <= 1000 + last_person(i) + 10, a
    assert 1 <= len(a["item_name"]) <= 19 and len(a["description"]) <= 99

# Bids: the multiset of event times is exact; auctions and bidders within Nexmark's bounds.
bids = [r for r in rows if r["event_type"] == "bid"]
got = collections.Counter(ms(b["date_time"]) for b in bids)
want = collections.Counter(ts(i) for i in range(n) if kind(i) == "bid")
assert got == want, "bid event times"
hot_auction = hot_bidder = 0
channel_url = {}
for b in bids:
    m = ms(b["date_time"]) - start          # events 10m .. 10m+9 share this millisecond
    lo_i, hi_i = 10 * m, 10 * m + 9
    hots = {last_auction(i) // 100 * 100 + 1000 for i in range(lo_i, hi_i + 1)}
    lo = max(last_auction(lo_i) - 100, 0) + 1000
    hi = last_auction(hi_i) + 10 + 1000
    assert b["auction"] in hots or lo <= b["auction"] <= hi, b
    hot_auction += b["auction"] in hots
    people_hi = last_person(hi_i) + 1
    hot_b = {last_person(i) // 100 * 100 + 1 + 1000 for i in range(lo_i, hi_i + 1)}
    assert b["bidder"] in hot_b or max(0, last_person(lo_i) + 1 - 1000) + 1000 <= b["bidder"] < people_hi + 10 + 1000, b
    hot_bidder += b["bidder"] in hot_b
    assert 100 <= b["price"] <= 100_000_000
    assert 54 <= len(b["extra"]) <= 81 and b["extra"].isalpha() and b["extra"].islower(), b
    c = b["channel"]
    assert c in {"Google", "Facebook", "Baidu", "Apple"} or (c.startswith("channel-") and 0 <= int(c[8:]) < 10000)
    assert b["url"].startswith("https://www.nexmark.com/") and "item.htm?query=1" in b["url"]
    assert channel_url.setdefault(c, b["url"]) == b["url"], "a channel has one URL"
# Hot auctions 1/2 + the random draws that hit one; hot bidders 3/4 (+ a little).
assert 0.48 < hot_auction / len(bids) < 0.56, hot_auction / len(bids)
assert 0.73 < hot_bidder / len(bids) < 0.80, hot_bidder / len(bids)
hot_channels = sum(b["channel"] in {"Google", "Facebook", "Baidu", "Apple"} for b in bids)
assert 0.47 < hot_channels / len(bids) < 0.53

# Another seed: other random values, the same ids, kinds and times.
key = lambda r: (r["event_type"], r["id"], r["date_time"])
assert sorted(map(key, rows), key=str) == sorted(map(key, other), key=str)
assert sorted(b["price"] for b in bids) != sorted(r["price"] for r in other if r["event_type"] == "bid")
PY

# event_rate sets the event-time spacing; ingest_time adds ingest_us (wall clock, in us).
N=100
job d 7 "$T/d" ', "event_rate": 1000, "ingest_time": true, "event_time": {"field": "date_time"}'
expect_exit 0 "$CFCTL" local -q --port 0 -p 1 "$T/d.json"
python3 - "$T/d" <<'PY'
import glob, json, sys, time
rows = [json.loads(l) for f in glob.glob(sys.argv[1] + "/part-*") for l in open(f)]
assert len(rows) == 100
times = sorted(r["date_time"] for r in rows)
assert times[0] == "2024-10-22T00:00:00.000Z" and times[-1] == "2024-10-22T00:00:00.099Z", times[-1]
now = time.time() * 1e6
assert all(now - 60e6 < r["ingest_us"] <= now for r in rows)
PY

# Bad values are rejected with their JSON path.
job e 7 "$T/e" ', "event_rate": 0'
expect_exit 2 "$CFCTL" validate "$T/e.json"
grep -q 'operators\[0\].event_rate: must be at least 1' "$T/stderr" || fail "event_rate message: $(cat "$T/stderr")"
pass "nexmark generator: deterministic, 1:3:46, ids/times/bounds as Nexmark's"
