#!/usr/bin/env python3
"""Writes the example's input events as JSON lines, one file per (topic, partition):
listens, page-views and auth events for one hour of event time, deterministic."""
import json, sys

out = sys.argv[1]
base = 1729591200000  # 2024-10-22T10:00:00Z
topics = {
    "listens": lambda i, ts: {"user_id": f"u{i % 501}", "track_id": f"t{(i * 13) % 977}",
                              "ms_played": (i * 7919) % 240000, "ts": ts},
    "page-views": lambda i, ts: {"user_id": f"u{i % 501}", "page_url": f"/p/{(i * 31) % 97}",
                                 "event_type": ["view", "click", "search"][i % 3], "ts": ts,
                                 "duration_ms": (i * 37) % 3000},
    "auth": lambda i, ts: {"user_id": f"u{i % 501}", "result": "fail" if i % 11 == 0 else "ok",
                           "method": ["password", "sso", "token"][i % 3], "ts": ts},
}
for topic, make in topics.items():
    files = [open(f"{out}/{topic}.{p}.jsonl", "w") for p in range(4)]
    for i in range(20000):
        ts = base + i * 180 + (i % 4) * 3  # in order within each partition
        files[i % 4].write(json.dumps(make(i, ts)) + "\n")
    for f in files:
        f.close()
