#!/usr/bin/env bash
# Kafka source throughput: N small JSON events preloaded into bin/cf-kafka-mock (evenly over
# P partitions, one kcat producer per partition), then source.kafka (stop: latest) ->
# sink.blackhole with `cfctl local` at -p 1 and -p 2. Prints the best of BENCH_RUNS runs
# (default 3) as events/s of the whole process (wall time, so it includes the mock broker's
# own work serving fetches, on the same cores) and events per CPU-second of cfctl alone, and
# checks that every run read every event.
#
# Usage: bench/kafka-source.sh [EVENTS] [PARTITIONS]   (defaults 1000000 and 20)
#
# librdkafka's mock keeps the last 5 MiB of each partition (older records are deleted as by
# retention), so EVENTS * ~62 bytes / PARTITIONS must stay below that: 1M events need at
# least 13 partitions.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
events=${1:-1000000}
parts=${2:-20}
runs=${BENCH_RUNS:-3}
work=${BENCH_DIR:-$top/build/bench-kafka}
mkdir -p "$work"
cd "$work"
rm -f mock.out

"$top/bin/cf-kafka-mock" --port 0 --topic "bench:$parts" >mock.out 2>mock.err &
mock=$!
trap 'kill $mock 2>/dev/null || true; wait $mock 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s mock.out ] && break; sleep 0.1; done
brokers=$(head -1 mock.out)
[ -n "$brokers" ] || { cat mock.err >&2; echo "bench: cf-kafka-mock did not start" >&2; exit 1; }

echo "bench: producing $events events into $parts partitions of $brokers"
python3 - "$events" "$parts" <<'PY'
import random, sys
n, parts = int(sys.argv[1]), int(sys.argv[2])
r = random.Random(1)
files = [open("part-%d.jsonl" % p, "w") for p in range(parts)]
for i in range(n):
    files[i % parts].write('{"id":%d,"user":"u%d","kind":"%s","ts":%d}\n' % (
        i, r.randrange(10000), r.choice(["view", "click", "buy"]), 1729620000000 + i * 10))
for f in files:
    f.close()
PY
start=$(date +%s.%N)
for p in $(seq 0 $((parts - 1))); do
    kcat -b "$brokers" -P -t bench -p "$p" -l "part-$p.jsonl" -X linger.ms=20 \
        -X batch.num.messages=10000 &
done
wait $(jobs -p | grep -v "^$mock\$") 2>/dev/null || true
echo "bench: produced in $(echo "$(date +%s.%N) - $start" | bc) s"

cat >job.json <<JOB
{"name": "bench-kafka-source", "operators": [
  {"id": "events", "type": "source.kafka", "brokers": "$brokers", "topic": "bench",
   "stop": "latest", "schema": {"id": "int", "user": "string", "kind": "string",
                                "ts": "timestamp"},
   "event_time": {"field": "ts"}},
  {"id": "out", "type": "sink.blackhole"}
]}
JOB

printf '%-28s %3s %10s %8s %12s %14s %9s\n' name p events wall_s events/s events/cpu-s rss_mb
for p in 1 2; do
    best=
    for _ in $(seq "$runs"); do
        /usr/bin/time -f "%e %U %S %M" -o time.txt "$top/bin/cfctl" local --port 0 -p "$p" job.json \
            >run.out 2>run.err || { cat run.err >&2; exit 1; }
        got=$(sed -n 's/.* \([0-9]*\) records in.*/\1/p' run.err | tail -1)
        [ "$got" = "$events" ] || { echo "bench: read $got of $events events" >&2; exit 1; }
        read -r wall user sys rss <time.txt
        if [ -z "$best" ] || [ "$(echo "$wall < ${best%% *}" | bc)" = 1 ]; then
            best="$wall $(echo "$user + $sys" | bc) $rss"
        fi
    done
    read -r wall cpu rss <<<"$best"
    printf '%-28s %3d %10d %8.2f %12.0f %14.0f %9.1f\n' kafka-source-blackhole "$p" "$events" \
        "$wall" "$(echo "$events / $wall" | bc -l)" "$(echo "$events / $cpu" | bc -l)" \
        "$(echo "$rss / 1024" | bc -l)"
done
