#!/usr/bin/env bash
# Runs examples/redis/query-analytics.json against a throwaway redis-server and shows what
# landed in Redis: per-user-type 20 s windows as JSON strings (with a 30-day TTL and a
# Pub/Sub message per write), per-minute success counts as hashes, and running counters.
#
# usage: examples/redis/run.sh [OUT_DIR]
#   Starts redis-server on 127.0.0.1 (port $REDIS_PORT, or a free one; nothing is saved to
#   disk), subscribes to analytics:updates, runs the job with bin/cfctl local (or $CFCTL),
#   prints a summary and stops the server. With OUT_DIR, also writes OUT_DIR/keys.jsonl
#   (every analytics:* key with type, TTL and value, via tests/pipeline/lib/redis_dump.py)
#   and OUT_DIR/messages.txt (the subscriber's raw output) for tests to check.
# To run the job against your own Redis on 127.0.0.1:6379 instead:
#   bin/cfctl local examples/redis/query-analytics.json
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
CFCTL=${CFCTL:-$TOP/bin/cfctl}
OUT=${1:-}
MULT=${CF_TEST_TIMEOUT_MULT:-1}
work=$(mktemp -d "${TMPDIR:-/tmp}/cf-redis-example.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

port=${REDIS_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
cli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }
redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize no \
    --dir "$work" >"$work/redis.log" 2>&1 &
pids+=("$!")
for ((i = 0; ; i++)); do
    [ "$(cli ping 2>/dev/null)" = PONG ] && break
    if ((i > 100 * MULT)); then cat "$work/redis.log" >&2; echo "redis-server did not start" >&2; exit 1; fi
    sleep 0.05
done
echo "redis-server on 127.0.0.1:$port"

# Subscribe before the job starts, so every notification is seen.
cli SUBSCRIBE analytics:updates >"$work/messages.txt" 2>&1 &
pids+=("$!")
until [ "$(cli pubsub numsub analytics:updates | sed -n 2p)" = 1 ]; do sleep 0.05; done

sed "s#127.0.0.1:6379#127.0.0.1:$port#g" examples/redis/query-analytics.json >"$work/job.json"
"$CFCTL" local -q "$work/job.json"

# Redis delivers a channel's messages in order: once this marker arrives, all have.
cli publish analytics:updates __end__ >/dev/null
until grep -qx __end__ "$work/messages.txt"; do sleep 0.05; done

keys() { cli --scan --pattern "$1" | sort; }
sample=$(keys 'analytics:user_type:faculty:*' | head -1)
echo "window results:  $(keys 'analytics:user_type:*' | wc -l) JSON strings, e.g."
echo "  GET $sample -> $(cli get "$sample")"
echo "  TTL $sample -> $(cli ttl "$sample") s"
echo "Pub/Sub:         $(($(grep -cx message "$work/messages.txt") - 1)) messages on analytics:updates, e.g."
echo "  $(sed -n '/^message$/{n;n;p;q}' "$work/messages.txt")"
hash=$(keys 'analytics:success:*' | head -1)
echo "success counts:  $(keys 'analytics:success:*' | wc -l) hashes, e.g."
echo "  HGETALL $hash -> $(cli hgetall "$hash" | paste -sd' ')"
echo -n "counters:       "
for k in $(keys 'analytics:queries:*'); do echo -n " ${k#analytics:queries:}=$(cli get "$k")"; done
echo

if [ -n "$OUT" ]; then
    mkdir -p "$OUT"
    cp "$work/messages.txt" "$OUT/messages.txt"
    python3 "$TOP/tests/pipeline/lib/redis_dump.py" "$port" 'analytics:*' >"$OUT/keys.jsonl"
fi
