#!/usr/bin/env python3
"""Reads keys back from Redis with redis-cli and prints them as sorted JSON lines:
{"key": K, "type": "string"|"hash", "ttl": seconds (-1: none), "value": text or {field: text}}.

usage: redis_dump.py PORT PATTERN [DB]

Keys are listed with `redis-cli --scan`; values are read with commands piped into one
redis-cli (raw output: one line per bulk string, so values must not contain newlines, which
holds for the JSON and numbers the tests write)."""
import json
import subprocess
import sys

port, pattern = sys.argv[1], sys.argv[2]
db = sys.argv[3] if len(sys.argv) > 3 else "0"
base = ["redis-cli", "-h", "127.0.0.1", "-p", port, "-n", db]


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run(commands):
    if not commands:
        return []
    out = subprocess.run(base, input="\n".join(commands) + "\n", capture_output=True,
                         text=True, check=True).stdout
    return out.split("\n")


keys = subprocess.run(base + ["--scan", "--pattern", pattern], capture_output=True, text=True,
                      check=True).stdout.split("\n")
keys = sorted(set(k for k in keys if k))
meta = run([c for k in keys for c in ("TYPE " + quote(k), "TTL " + quote(k))])
types, ttls = {}, {}
for i, k in enumerate(keys):
    types[k], ttls[k] = meta[2 * i], int(meta[2 * i + 1])
cmds = []
for k in keys:
    if types[k] == "hash":
        cmds += ["HLEN " + quote(k), "HGETALL " + quote(k)]
    else:
        cmds.append("GET " + quote(k))
out = run(cmds)
pos = 0
for k in keys:
    if types[k] == "hash":
        n = int(out[pos])
        flat = out[pos + 1:pos + 1 + 2 * n]
        pos += 1 + 2 * n
        value = dict(zip(flat[0::2], flat[1::2]))
    else:
        value = out[pos]
        pos += 1
    print(json.dumps({"key": k, "type": types[k], "ttl": ttls[k], "value": value},
                      sort_keys=True))
