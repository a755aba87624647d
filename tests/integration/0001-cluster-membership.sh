#!/usr/bin/env bash
# A coordinator and two 2-slot workers as separate processes: both register and show in
# /overview and /taskmanagers with Flink's fields; a worker killed with -9 disappears within
# the heartbeat timeout; the coordinator killed with -9 and restarted on its data dir and
# ports gets the surviving worker back (it re-registers).
source "$(dirname "$0")/lib.sh"
start_coordinator coord --heartbeat-interval 200ms --heartbeat-timeout 2s
start_workers 2 2
[ "$(json "$REST/overview" 'd["slots-total"], d["slots-available"]')" = "(4, 4)" ] || fail "slots"
json "$REST/taskmanagers" 'sorted(d["taskmanagers"][0].keys())' | grep -q "'slotsNumber'" || fail "taskmanager fields"
tm=$(json "$REST/taskmanagers" 'd["taskmanagers"][0]["id"]')
[ "$(json "$REST/taskmanagers/$tm" 'd["slotsNumber"], d["freeSlots"]')" = "(2, 2)" ] || fail "one taskmanager"
code=$(curl -s -o "$T/body" -w '%{http_code}' "$REST/taskmanagers/nope")
[ "$code" = 404 ] && grep -q '"errors"' "$T/body" || fail "unknown taskmanager: $code"
pass "two workers registered"

kill -9 "${W[1]}"
start=$SECONDS
wait_for 6 field_is "$REST/overview" 'd["taskmanagers"]' 1 || fail "lost worker still listed"
[ $((SECONDS - start)) -le 4 ] || fail "loss took $((SECONDS - start)) s with a 2 s timeout"
[ "$(json "$REST/overview" 'd["slots-total"]')" = 2 ] || fail "slots of the lost worker remain"
grep -q "lost: no heartbeat" "$T/coord.err" || fail "no log line for the lost worker"
pass "killed worker removed within the heartbeat timeout"

# Restart the coordinator on the same ports and data dir.
rest_port=${REST##*:}; rpc_port=${RPC##*:}
kill -9 "$COORD_PID"
ln -s "$T/coord-data" "$T/coord2-data"   # the same data dir under the new name
REST_PORT=$rest_port RPC_PORT=$rpc_port start_coordinator coord2 --heartbeat-interval 200ms --heartbeat-timeout 2s
wait_for 15 field_is "$REST/overview" 'd["taskmanagers"]' 1 || fail "worker did not re-register"
grep -q "registering again\|heartbeat to" "$T/w2.err" || fail "worker did not notice the restart"
pass "worker re-registered after a coordinator restart"
