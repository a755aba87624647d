#!/usr/bin/env bash
# The coordinator and two workers as separate hosts: each in its own network namespace with
# its own address (10.x.y.1-3 on a bridge), nothing on 127.0.0.1 shared. A keyed window job
# at -p 4 runs across both workers (the hash exchange crosses hosts over the data plane)
# and equals `cfctl local`'s result; the workers are listed with their own addresses; a
# worker host that loses its link is declared lost within the heartbeat timeout.
# Needs CAP_NET_ADMIN (root): without it the test says so and does nothing else.
source "$(dirname "$0")/lib.sh"
CFCTL=$BIN/cfctl
id=$$
hub=cf-hub-$id
hosts=(cf-c-$id cf-w1-$id cf-w2-$id)
net=10.$((id % 200 + 20)).$(((id / 200) % 250)).
netns_cleanup() {
    for ns in "${hosts[@]}" "$hub"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap 'cleanup; netns_cleanup' EXIT
if ! ip netns add "$hub" 2>"$T/netns.err"; then
    echo "skip: cannot create network namespaces here ($(cat "$T/netns.err"))"
    exit 0
fi
ip -n "$hub" link add br0 type bridge
ip -n "$hub" link set br0 up
for k in 0 1 2; do
    ns=${hosts[$k]}
    ip netns add "$ns"
    ip link add "cfh$k-$id" type veth peer name "cfp$k-$id"
    ip link set "cfh$k-$id" netns "$hub"
    ip link set "cfp$k-$id" netns "$ns"
    ip -n "$hub" link set "cfh$k-$id" master br0 up
    ip -n "$ns" link set "cfp$k-$id" name eth0
    ip -n "$ns" addr add "${net}$((k + 1))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
done
C=${net}1; W1=${net}2; W2=${net}3
on() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
# nsjson URL PYEXPR: json() from the coordinator's host.
nsjson() {
    on "${hosts[0]}" python3 -c 'import json,sys,urllib.request; d=json.load(urllib.request.urlopen(sys.argv[1], timeout=5)); print(eval(sys.argv[2]))' "$1" "$2"
}
on "${hosts[0]}" "$BIN/cf-coordinator" --bind "$C" --rest-port 8081 --rpc-port 6123 \
    --data-dir "$T/coord-data" --heartbeat-interval 200ms --heartbeat-timeout 2s 2>"$T/coord.err" &
PIDS+=($!)
REST=http://$C:8081
wait_for 10 nsjson "$REST/overview" 1 || fail "coordinator not reachable at $REST"
for k in 1 2; do
    on "${hosts[$k]}" "$BIN/cf-worker" --coordinator "$C:6123" --bind "${net}$((k + 1))" \
        --slots 2 --data-port 6121 --rpc-port 6122 2>"$T/w$k.err" &
    PIDS+=($!)
done
for _ in $(seq 100); do
    [ "$(nsjson "$REST/overview" 'd["taskmanagers"]' 2>/dev/null)" = 2 ] && break
    sleep 0.1
done
paths=$(nsjson "$REST/taskmanagers" '" ".join(sorted(t["path"] for t in d["taskmanagers"]))')
[ "$paths" = "$(printf '%s\n' "$W1:6122" "$W2:6122" | sort | tr '\n' ' ' | sed 's/ $//')" ] ||
    fail "taskmanagers: $paths"
pass "two workers registered from their own hosts: $paths"

cat >"$T/job.json" <<JOB
{"name": "per-user-hosts", "operators": [
  {"id": "clicks", "type": "source.datagen", "count": 100000, "ts_jitter": "2s",
   "event_time": {"field": "ts", "max_out_of_orderness": "2s"}},
  {"id": "per-user", "type": "window", "key_by": ["user_id"],
   "window": {"type": "tumbling", "size": "1m"},
   "aggregates": {"n": "count(*)", "ms": "sum(duration_ms)"}},
  {"id": "out", "type": "sink.file", "path": "OUT"}
]}
JOB
sed "s#OUT#$T/cluster-out#" "$T/job.json" >"$T/cluster.json"
sed "s#OUT#$T/local-out#" "$T/job.json" >"$T/local.json"
on "${hosts[0]}" "$CFCTL" -m "$REST" run -p 4 --wait "$T/cluster.json" >"$T/run.out" 2>"$T/run.err" ||
    fail "cfctl run failed: $(cat "$T/run.out" "$T/run.err")"
"$CFCTL" local -q --port 0 -p 1 "$T/local.json" 2>/dev/null || fail "reference run failed"
cat "$T"/cluster-out/part-* | sort >"$T/a.txt"
cat "$T"/local-out/part-* | sort >"$T/b.txt"
cmp -s "$T/a.txt" "$T/b.txt" || fail "output differs from cfctl local ($(wc -l <"$T/a.txt") vs $(wc -l <"$T/b.txt") rows)"
grep -q "deployed on 2 workers" "$T/coord.err" || fail "the job did not use both workers"
pass "-p 4 across two hosts: $(wc -l <"$T/a.txt") rows, equal to cfctl local"

# Cut worker 2's link: the coordinator declares it lost within the heartbeat timeout.
ip -n "$hub" link set "cfh2-$id" down
t0=$SECONDS
for _ in $(seq 60); do
    [ "$(nsjson "$REST/overview" 'd["taskmanagers"]')" = 1 ] && break
    sleep 0.1
done
[ "$(nsjson "$REST/overview" 'd["taskmanagers"]')" = 1 ] || fail "worker on the cut link still listed"
took=$((SECONDS - t0))
grep -q "lost: no heartbeat" "$T/coord.err" || fail "no loss logged: $(tail -3 "$T/coord.err")"
[ "$took" -le 4 ] || fail "the lost host was noticed after ${took} s (timeout 2 s)"
pass "a host whose link is cut is lost within ${took}-$((took + 1)) s (timeout 2 s)"
