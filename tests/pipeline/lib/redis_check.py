#!/usr/bin/env python3
"""Compares Redis contents read back by redis_dump.py with redis_ref.py's expectation.

usage: redis_check.py EXPECTED.jsonl GOT.jsonl [--messages|--increments FILE PREFIX]...

Every expected key must be present with the same type and value and a TTL inside the
expected range, and no other key may exist. With --messages, FILE is the raw output of
`redis-cli SUBSCRIBE` (lines "message", channel, payload per message): there must be
exactly one payload {"key": K, "value": V} per expected key starting with PREFIX, and none
for other keys, where V is the stored value (parsed as JSON when it is JSON: objects and
numbers are embedded, not quoted; for a hash, V is the row object, whose non-null fields
as text are the hash). With --increments (incrby), the payloads' values for each key
starting with PREFIX add up to the stored counter. Marker messages "__end..." are ignored.
Prints one summary line; exits 1 with the first differences otherwise."""
import json
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        return {o["key"]: o for o in map(json.loads, filter(str.strip, f))}


args = sys.argv[1:]
want, got = load(args[0]), load(args[1])
errors = []
missing = sorted(set(want) - set(got))
extra = sorted(set(got) - set(want))
if missing:
    errors.append("%d keys missing, e.g. %s" % (len(missing), missing[:3]))
if extra:
    errors.append("%d unexpected keys, e.g. %s" % (len(extra), extra[:3]))
for k in sorted(set(want) & set(got)):
    w, g = want[k], got[k]
    if w["type"] != g["type"] or w["value"] != g["value"]:
        errors.append("%s: expected %s %r, got %s %r" % (k, w["type"], w["value"], g["type"],
                                                          g["value"]))
    lo, hi = w["ttl"]
    if not lo <= g["ttl"] <= hi:
        errors.append("%s: TTL %d outside [%d, %d]" % (k, g["ttl"], lo, hi))


def text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else repr(v)


def as_json(s):
    try:
        return json.loads(s)
    except ValueError:
        return s


nmsg = 0
i = 2
while i < len(args):
    if args[i] not in ("--messages", "--increments"):
        sys.exit("usage: redis_check.py EXPECTED GOT [--messages|--increments FILE PREFIX]...")
    increments = args[i] == "--increments"
    path, prefix = args[i + 1], args[i + 2]
    i += 3
    lines = open(path, encoding="utf-8").read().split("\n")
    payloads = [lines[j + 2] for j in range(len(lines) - 2) if lines[j] == "message"
                and j % 3 == 0]
    seen = {}
    for p in payloads:
        if p.startswith("__end"):
            continue
        try:
            m = json.loads(p)
        except ValueError:
            errors.append("%s: payload is not JSON: %r" % (path, p))
            continue
        if not isinstance(m, dict) or sorted(m) != ["key", "value"]:
            errors.append("%s: payload is not {key, value}: %r" % (path, p))
            continue
        k = m["key"]
        if increments:
            seen[k] = seen.get(k, 0) + m["value"]
            continue
        seen[k] = seen.get(k, 0) + 1
        if k not in want or not k.startswith(prefix):
            errors.append("%s: message for unexpected key %r" % (path, k))
        elif want[k]["type"] == "string" and m["value"] != as_json(want[k]["value"]):
            errors.append("%s: message for %s has value %r, stored %r" % (path, k, m["value"],
                                                                          want[k]["value"]))
        elif want[k]["type"] == "hash" and (
                not isinstance(m["value"], dict) or want[k]["value"] != {
                    f: text(v) for f, v in m["value"].items() if v is not None}):
            errors.append("%s: message for hash %s has value %r, stored %r" % (
                path, k, m["value"], want[k]["value"]))
    if increments:
        for k in set(seen) | set(k for k in want if k.startswith(prefix)):
            if k not in want or not k.startswith(prefix) or str(seen.get(k)) != want[k]["value"]:
                errors.append("%s: increments for %s add up to %s, stored %s" % (
                    path, k, seen.get(k), want.get(k, {}).get("value")))
        nmsg += len([p for p in payloads if not p.startswith("__end")])
        continue
    for k in want:
        if k.startswith(prefix) and seen.get(k, 0) != 1:
            errors.append("%s: %d messages for %s, expected 1" % (path, seen.get(k, 0), k))
    nmsg += sum(seen.values())

if errors:
    for e in errors[:15]:
        print(e, file=sys.stderr)
    print("%d differences" % len(errors), file=sys.stderr)
    sys.exit(1)
print("%d keys, %d messages as expected" % (len(want), nmsg))
