#!/usr/bin/env bash
# Back-pressure across workers: an unbounded source (2 subtasks, one per worker) feeding a
# sink that accepts 5,000 rows/s slows down to the sink's pace instead of buffering: after a
# few seconds the source has emitted at most a few queues' worth more than the sink took,
# the source vertex reports back-pressured time and a "high" back-pressure level for both
# subtasks (the sink's is "ok"), and the workers' memory stays small.
source "$(dirname "$0")/lib.sh"
CFCTL=$BIN/cfctl
start_coordinator coord --heartbeat-interval 200ms --heartbeat-timeout 5s
start_workers 2 1
cat >"$T/job.json" <<JOB
{"name": "throttled", "parallelism": 2, "operators": [
  {"id": "clicks", "type": "source.datagen"},
  {"id": "slow", "type": "sink.blackhole", "parallelism": 1, "rate": 5000}
]}
JOB
"$CFCTL" -m "$REST" run "$T/job.json" >"$T/run.out" 2>&1 || fail "run: $(cat "$T/run.out")"
jid=$(grep -o 'JobID [0-9a-f]*' "$T/run.out" | cut -d' ' -f2)
wait_for 10 field_is "$REST/jobs/$jid" 'd["state"]' RUNNING || fail "not RUNNING"
sleep 5
read -r out in bp <<<"$(json "$REST/jobs/$jid" '"%d %d %d" % (d["vertices"][0]["metrics"]["write-records"], d["vertices"][1]["metrics"]["read-records"], d["vertices"][0]["metrics"]["accumulated-backpressured-time"])')"
echo "source emitted $out, sink took $in, source back-pressured ${bp} ms"
[ "$in" -gt 10000 ] || fail "the sink took only $in rows"
[ "$in" -lt 40000 ] || fail "the sink took $in rows: not throttled"
[ $((out - in)) -lt 40000 ] || fail "the source ran $((out - in)) rows ahead: no back-pressure"
[ "$bp" -gt 1000 ] || fail "no back-pressured time reported ($bp ms)"
src=$(json "$REST/jobs/$jid" 'd["vertices"][0]["id"]')
snk=$(json "$REST/jobs/$jid" 'd["vertices"][1]["id"]')
levels=$(json "$REST/jobs/$jid/vertices/$src/backpressure" '" ".join([d["backpressure-level"]] + [t["backpressure-level"] for t in d["subtasks"]])')
[ "$levels" = "high high high" ] || fail "source back-pressure levels: $levels ($(curl -s "$REST/jobs/$jid/vertices/$src/backpressure"))"
[ "$(json "$REST/jobs/$jid/vertices/$snk/backpressure" 'd["backpressure-level"]')" = ok ] ||
    fail "sink back-pressure: $(curl -s "$REST/jobs/$jid/vertices/$snk/backpressure")"
hosts=$(json "$REST/jobs/$jid/vertices/$src" '" ".join(sorted(set(t["taskmanager-id"] for t in d["subtasks"])))')
[ "$(echo "$hosts" | wc -w)" -eq 2 ] || fail "source subtasks not on two workers: $hosts"
for p in ${W[1]} ${W[2]}; do
    rss=$(awk '/VmRSS/ {print $2}' /proc/$p/status)
    [ "$rss" -lt 262144 ] || fail "worker RSS $rss KB"
done
"$CFCTL" -m "$REST" cancel "$jid" >/dev/null || fail "cancel"
pass "back-pressure across workers (source level: $levels)"

# Jobs survive a coordinator restart in its job store.
rest_port=${REST##*:}; rpc_port=${RPC##*:}
kill -9 "$COORD_PID"
ln -s "$T/coord-data" "$T/coord2-data"
REST_PORT=$rest_port RPC_PORT=$rpc_port start_coordinator coord2 --heartbeat-interval 200ms
[ "$(json "$REST/jobs/$jid" 'd["name"], d["state"]')" = "('throttled', 'CANCELED')" ] ||
    fail "job after restart: $(curl -s "$REST/jobs/$jid")"
"$CFCTL" -m "$REST" list -a | grep -q "$jid : throttled (CANCELED)" || fail "cfctl list -a after restart"
pass "the job store survives a coordinator kill -9"
