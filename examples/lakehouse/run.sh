#!/usr/bin/env bash
# The pipelines teams run today, end to end on throwaway local peers: cf-kafka-mock, a local
# S3 server (s3rver, installed by scripts/install-deps.sh) and redis-server.
#   1. listens, page-views and auth events (examples/lakehouse/produce.py) are produced with
#      kcat into three topics of 4 partitions;
#   2. events-to-lake.json copies the three topics into partitioned objects
#      s3://lake/<topic>/year=/month=/day=/hour=/part-*.json;
#   3. page-views-5min.json: 5-minute windows per user, with window start and end, to JSON
#      lines on s3://lake/page-views-per-user-5m/...;
#   4. auth-to-redis.json: per-minute auth analytics into Redis keys with a 30-day TTL and a
#      message on the analytics:updates channel per write.
# usage: examples/lakehouse/run.sh [OUT_DIR]   (OUT_DIR: objects.txt, redis.txt for tests)
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
CFCTL=${CFCTL:-$TOP/bin/cfctl}
BIN=$(dirname "$CFCTL")
MOCK=$BIN/cf-kafka-mock
[ -x "$MOCK" ] || MOCK=$TOP/bin/cf-kafka-mock
OUT=${1:-}
T=$(mktemp -d "${TMPDIR:-/tmp}/cf-lakehouse.XXXXXX")
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$T"' EXIT
source "$TOP/tests/integration/lib_s3.sh"
start_s3 lake >/dev/null
"$MOCK" --port 0 --topic listens:4 --topic page-views:4 --topic auth:4 >"$T/mock.out" 2>"$T/mock.err" &
PIDS+=($!)
for _ in $(seq 200); do [ -s "$T/mock.out" ] && break; sleep 0.05; done
brokers=$(head -1 "$T/mock.out")
rport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >"$T/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
echo "kafka $brokers, S3 $S3_ENDPOINT, redis 127.0.0.1:$rport"

python3 examples/lakehouse/produce.py "$T"
for topic in listens page-views auth; do
    for p in 0 1 2 3; do kcat -P -b "$brokers" -t "$topic" -p $p -l "$T/$topic.$p.jsonl"; done
done
redis-cli -p "$rport" subscribe analytics:updates >"$T/updates.txt" 2>&1 &
PIDS+=($!)
for job in events-to-lake page-views-5min auth-to-redis; do
    sed "s#127.0.0.1:9092#$brokers#; s#127.0.0.1:6379#127.0.0.1:$rport#" \
        "examples/lakehouse/$job.json" >"$T/$job.json"
    "$CFCTL" local --port 0 -q "$T/$job.json"
done
X=$(build_objstore_tool)
"$X" list s3://lake >"$T/objects.txt"
echo "objects in s3://lake: $(wc -l <"$T/objects.txt"), e.g."
grep -m 3 'page-views-per-user-5m' "$T/objects.txt" | sed 's/^/  /'
"$X" get "$(grep -m 1 -o 's3://lake/page-views-per-user-5m/[^ ]*' "$T/objects.txt")" >"$T/one.json"
head -2 "$T/one.json" | sed 's/^/  /'
redis-cli -p "$rport" --scan --pattern 'analytics:auth:*' | sort >"$T/keys.txt"
echo "redis: $(wc -l <"$T/keys.txt") analytics:auth:* keys (TTL $(redis-cli -p "$rport" ttl "$(head -1 "$T/keys.txt")") s), e.g."
k=$(head -1 "$T/keys.txt"); echo "  $k = $(redis-cli -p "$rport" get "$k")"
sleep 0.2
echo "analytics:updates messages: $(($(grep -c '^analytics:updates$' "$T/updates.txt") - 1))"
if [ -n "$OUT" ]; then
    mkdir -p "$OUT"
    cp "$T/objects.txt" "$OUT/objects.txt"
    while read -r k; do printf '%s\t%s\t%s\n' "$k" "$(redis-cli -p "$rport" ttl "$k")" "$(redis-cli -p "$rport" get "$k")"; done <"$T/keys.txt" >"$OUT/redis.txt"
    for u in $(cut -d' ' -f1 "$T/objects.txt"); do "$X" get "$u" | sed "s#^#${u#s3://lake/}\t#"; done >"$OUT/rows.txt"
    grep -c '^analytics:updates$' "$T/updates.txt" >"$OUT/messages.txt"
fi
