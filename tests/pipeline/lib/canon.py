#!/usr/bin/env python3
"""Reads JSON lines from the files given (or part files under directories, skipping
dot-files) and prints them canonically (sorted keys, sorted rows), so outputs can be
compared exactly. With --field F, prints only that field's values (sorted)."""
import json
import os
import sys

args = sys.argv[1:]
field = None
if args and args[0] == "--field":
    field, args = args[1], args[2:]
rows = []


def read(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                rows.append(json.loads(line))


for a in args:
    if os.path.isdir(a):
        for root, dirs, files in os.walk(a):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if not name.startswith(".") and not name.startswith("_"):
                    read(os.path.join(root, name))
    else:
        read(a)
if field:
    for v in sorted(r[field] for r in rows):
        print(v)
else:
    for line in sorted(json.dumps(r, sort_keys=True) for r in rows):
        print(line)
