#!/usr/bin/env bash
# Checkpoint figures on a 1-coordinator/1-worker cluster on this machine:
#  1. throughput cost: the same job (3M clickstream events, 1-minute windows by
#     (event_type, country)) without checkpoints and checkpointing every second;
#  2. a job with about 100 MB of keyed state (one window entry per event id): checkpoint
#     duration and size from GET /jobs/:jid/checkpoints;
#  3. recovery: kill -9 the worker during a checkpointing job, start another one, and time
#     until every task restored from the latest checkpoint.
# Usage: bench/checkpoint.sh   (prints a small table; takes about two minutes)
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BIN=$TOP/bin
T=$(mktemp -d "${TMPDIR:-/tmp}/cf-ckbench.XXXXXX")
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$T"' EXIT
"$BIN/cf-coordinator" --rest-port 0 --rpc-port 0 --data-dir "$T/coord" --heartbeat-interval 200ms \
    --heartbeat-timeout 2s 2>"$T/coord.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q 'REST API on' "$T/coord.err" && break; sleep 0.05; done
REST=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/coord.err" | head -1)
RPC=$(grep -o 'RPC on [0-9.:]*' "$T/coord.err" | cut -d' ' -f3)
worker() { "$BIN/cf-worker" --coordinator "$RPC" --slots 2 --data-port 0 --rpc-port 0 2>>"$T/worker.err" & PIDS+=($!); WPID=$!; }
worker
sleep 1
q() { python3 -c 'import json,sys,urllib.request; d=json.load(urllib.request.urlopen(sys.argv[1], timeout=5)); print(eval(sys.argv[2]))' "$@"; }
submit() { "$BIN/cfctl" -m "$REST" run "$1" | grep -o '[0-9a-f]\{32\}'; }
wait_state() { # jid state timeout
    for _ in $(seq $(($3 * 10))); do [ "$(q "$REST/jobs/$1" 'd["state"]')" = "$2" ] && return 0; sleep 0.1; done; return 1; }
duration_s() { q "$REST/jobs/$1" '(d["end-time"] - d["start-time"]) / 1000'; }

job() { # checkpoints-json count key sink
    cat <<JOB
{"name": "ckbench", "parallelism": 2, $1
 "operators": [
  {"id": "clicks", "type": "source.datagen", "generator": "clickstream", "count": $2,
   "event_time": {"field": "ts", "max_out_of_orderness": "5s"}},
  {"id": "win", "type": "window", "key_by": [$3], "window": {"type": "tumbling", "size": "$4"},
   "aggregates": {"n": "count(*)", "ms": "sum(duration_ms)"}},
  {"id": "out", "type": "sink.blackhole"}]}
JOB
}
CK="\"checkpoints\": {\"interval\": \"1s\", \"dir\": \"file://$T/chk\", \"retain\": 2},"
job "" 3000000 '"event_type", "country"' 1m >"$T/plain.json"
job "$CK" 3000000 '"event_type", "country"' 1m >"$T/ck.json"
j=$(submit "$T/plain.json"); wait_state "$j" FINISHED 300; plain=$(duration_s "$j")
j=$(submit "$T/ck.json"); wait_state "$j" FINISHED 300; ck=$(duration_s "$j")
n=$(q "$REST/jobs/$j/checkpoints" 'd["counts"]["completed"]')
echo "throughput: 3M events without checkpoints $plain s ($(echo "3000000/$plain" | bc) ev/s), checkpointing every 1 s $ck s ($(echo "3000000/$ck" | bc) ev/s), $n checkpoints"

# ~100 MB of keyed state: one entry per event id in a 1-day window.
job "$CK" 1200000 '"event_id"' 1d | sed 's/"count": 1200000/"count": 1200000, "rate": 150000/' >"$T/big.json"
j=$(submit "$T/big.json"); wait_state "$j" FINISHED 600
q "$REST/jobs/$j/checkpoints" '"large state: %d checkpoints, state size max %.1f MB avg %.1f MB, duration max %d ms avg %d ms" % (d["counts"]["completed"], d["summary"]["state_size"]["max"]/1e6, d["summary"]["state_size"]["avg"]/1e6, d["summary"]["end_to_end_duration"]["max"], d["summary"]["end_to_end_duration"]["avg"])'

# Recovery after a worker loss.
sed 's/"count": 1200000, "rate": 150000/"count": 100000000, "rate": 200000/' "$T/big.json" | sed 's/"1d"/"1m"/' >"$T/rec.json"
sed -i 's/"ckbench"/"recovery", "restart": {"strategy": "fixed_delay", "attempts": 3, "delay": "0s"}/' "$T/rec.json"
j=$(submit "$T/rec.json"); wait_state "$j" RUNNING 20
for _ in $(seq 100); do [ "$(q "$REST/jobs/$j/checkpoints" 'd["counts"]["completed"]')" -ge 3 ] && break; sleep 0.2; done
worker; new=$WPID; sleep 0.5
old=${PIDS[1]}
t0=$(date +%s%N); kill -9 "$old"
for _ in $(seq 600); do [ "$(grep -c 'restored from checkpoint' "$T/worker.err")" -ge 3 ] && break; sleep 0.05; done
t1=$(date +%s%N)
echo "recovery: worker kill -9 -> every task restored from the latest checkpoint: $(( (t1 - t0) / 1000000 )) ms (heartbeat timeout 2 s; data-plane loss detected sooner)"
"$BIN/cfctl" -m "$REST" cancel "$j" >/dev/null
