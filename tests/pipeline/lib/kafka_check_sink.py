#!/usr/bin/env python3
"""Checks what sink.kafka wrote against the rows it was given.

usage: kafka_check_sink.py INPUT.jsonl CONSUMED.tsv PARTITIONS KEY_FIELD|- [TS_FIELD]

INPUT.jsonl: the rows the sink received, as JSON objects (timestamps as epoch ms or ISO);
CONSUMED.tsv: kcat -f '%p\\t%k\\t%T\\t%s\\n' of the topic. Checks, exactly:
  - the values are the input rows, each once (JSON objects compared after parsing, with
    timestamps in the sink's ISO-8601 form);
  - the key is the KEY_FIELD's value as text (ints in decimal), no key for NULL;
  - a keyed message is in partition murmur2(key) % PARTITIONS, as Kafka's Java client
    puts it (the sink uses librdkafka's murmur2 partitioner);
  - the message timestamp is the row's event time TS_FIELD (when given).
"""
import datetime as dt
import json
import sys
from collections import Counter

inp, consumed, parts, key_field = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ts_field = sys.argv[5] if len(sys.argv) > 5 else None
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def iso(ms):
    d = EPOCH + dt.timedelta(milliseconds=ms)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def murmur2(data):
    """Kafka's org.apache.kafka.common.utils.Utils.murmur2."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = length % 4
    tail = data[length - rest:]
    if rest == 3:
        h ^= tail[2] << 16
    if rest >= 2:
        h ^= tail[1] << 8
    if rest >= 1:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def keytext(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


want = Counter()
for line in open(inp):
    row = json.loads(line)
    if ts_field and isinstance(row.get(ts_field), int):
        row[ts_field] = iso(row[ts_field])
    ts = row.get(ts_field) if ts_field else None
    want[(keytext(row.get(key_field)) if key_field != "-" else "", ts,
          json.dumps(row, sort_keys=True))] += 1

got = Counter()
bad = 0
for line in open(consumed):
    p, key, ts, value = line.rstrip("\n").split("\t", 3)
    row = json.loads(value)
    got[(key, row.get(ts_field) if ts_field else None, json.dumps(row, sort_keys=True))] += 1
    if key and int(p) != (murmur2(key.encode()) & 0x7FFFFFFF) % parts:
        bad += 1
        print("key %r in partition %s, murmur2 says %d" % (key, p,
              (murmur2(key.encode()) & 0x7FFFFFFF) % parts), file=sys.stderr)
    if ts_field and row.get(ts_field) is not None and iso(int(ts)) != row[ts_field]:
        bad += 1
        print("message timestamp %s for a row with %s" % (ts, row[ts_field]), file=sys.stderr)
if got != want:
    print("missing: %s" % list((want - got).items())[:5], file=sys.stderr)
    print("unexpected: %s" % list((got - want).items())[:5], file=sys.stderr)
    bad += 1
print("%d messages checked" % sum(got.values()))
sys.exit(1 if bad else 0)
