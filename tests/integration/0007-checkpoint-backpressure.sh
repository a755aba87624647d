#!/usr/bin/env bash
# Checkpoints under back-pressure: a fast source feeds a sink throttled to 4,000 rows/s
# through a hash exchange across two workers, so every queue and credit window is full; the
# barriers still get through (behind the queued data, aligned) and checkpoints complete
# while the source stays throttled (no unbounded buffering), then the job cancels cleanly.
source "$(dirname "$0")/lib.sh"
CFCTL=$BIN/cfctl
start_coordinator coord --heartbeat-interval 200ms --heartbeat-timeout 3s
start_workers 2 2
cat >"$T/job.json" <<JOB
{"name": "pressured", "parallelism": 2,
 "checkpoints": {"interval": "1s", "dir": "file://$T/chk", "timeout": "20s"},
 "operators": [
  {"id": "clicks", "type": "source.datagen", "generator": "clickstream",
   "event_time": {"field": "ts", "max_out_of_orderness": "5s"}},
  {"id": "per-user", "type": "window", "key_by": ["user_id"],
   "window": {"type": "tumbling", "size": "1s"}, "aggregates": {"n": "count(*)"}},
  {"id": "slow", "type": "sink.blackhole", "rate": 2000}
]}
JOB
"$CFCTL" -m "$REST" run "$T/job.json" >"$T/run.out" 2>&1 || fail "run: $(cat "$T/run.out")"
jid=$(grep -o 'JobID [0-9a-f]*' "$T/run.out" | cut -d' ' -f2)
wait_for 10 field_is "$REST/jobs/$jid" 'd["state"]' RUNNING || fail "not RUNNING"
wait_for 40 bash -c "[ \$(python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1]))[\"counts\"][\"completed\"])' '$REST/jobs/$jid/checkpoints') -ge 3 ]" ||
    fail "checkpoints did not complete under back-pressure: $(json "$REST/jobs/$jid/checkpoints" 'd["counts"]')"
bp=$(json "$REST/jobs/$jid" 'max(v["metrics"].get("accumulated-backpressured-time", 0) for v in d["vertices"])')
[ "$bp" -gt 1000 ] || fail "the job was not back-pressured ($bp ms)"
"$CFCTL" -m "$REST" cancel "$jid" >/dev/null 2>&1 || fail "cancel"
wait_for 10 field_is "$REST/jobs/$jid" 'd["state"]' CANCELED || fail "not CANCELED"
pass "3 checkpoints completed while back-pressured for $bp ms; cancel"
