#!/usr/bin/env bash
# The pipeline of issue [5]'s "done when": JSON events produced with kcat into cf-kafka-mock
# (4 partitions) flow through a bounded source.kafka (stop: latest) and 1-minute event-time
# windows into three sinks at once: Redis (a key per window with a 30-day TTL and one Pub/Sub
# message per write), a Kafka topic (read back with kcat) and partitioned objects on a local
# S3 server (year=/month=/day=/hour=). All three equal an independent Python computation
# exactly, at -p 1 and -p 2.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_s3.sh"
CFCTL=$BIN/cfctl
X=$(build_objstore_tool) || fail "cannot build objstore_tool"
start_s3 lake || fail "no S3 server"
"$BIN/cf-kafka-mock" --port 0 --topic clicks:4 --topic results1:3 --topic results2:3 >"$T/kafka.out" 2>"$T/kafka.err" &
PIDS+=($!)
wait_for 10 test -s "$T/kafka.out" || fail "cf-kafka-mock did not start"
KAFKA=$(head -1 "$T/kafka.out")
RPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no >"$T/redis.log" 2>&1 &
PIDS+=($!)
wait_for 10 redis-cli -p "$RPORT" ping || fail "redis-server did not start"

# Events: 4 partitions, each in event-time order (so none is late), 6 event types.
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
types = ["view", "click", "search", "login", "logout", "purchase"]
base = 1729591200000  # 2024-10-22T10:00:00Z
files = [open(f"{t}/p{p}.jsonl", "w") for p in range(4)]
ref = {}
for i in range(40000):
    ts = base + i * 180 + (i % 4) * 7  # 2 hours of event time
    e = {"event_type": types[(i * 7) % 6], "user_id": f"u{i % 997}", "ts": ts,
         "duration_ms": (i * 37) % 900}
    files[i % 4].write(json.dumps(e) + "\n")
    w = ts - ts % 60000
    k = (e["event_type"], w)
    n, ms, users = ref.get(k, (0, 0, set()))
    users.add(e["user_id"])
    ref[k] = (n + 1, ms + e["duration_ms"], users)
for f in files:
    f.close()
def iso(ms):
    import datetime
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
with open(f"{t}/ref.rows", "w") as out, open(f"{t}/ref.redis", "w") as rk, open(f"{t}/ref.parts", "w") as rp:
    rows = []
    for (et, w), (n, ms, users) in ref.items():
        row = json.dumps({"event_type": et, "window_start": iso(w), "window_end": iso(w + 60000),
                          "events": n, "total_ms": ms, "users": len(users)}, separators=(",", ":"))
        rows.append(row)
        rk.write(f"analytics:{et}:{iso(w)}\t{row}\n")
        import datetime
        d = datetime.datetime.fromtimestamp(w / 1000, datetime.timezone.utc)
        rp.write(d.strftime("year=%Y/month=%m/day=%d/hour=%H") + "\t" + row + "\n")
    out.write("\n".join(sorted(rows)) + "\n")
PY
for p in 0 1 2 3; do kcat -P -b "$KAFKA" -t clicks -p $p -l "$T/p$p.jsonl" || fail "kcat produce"; done
LC_ALL=C sort -o "$T/ref.redis" "$T/ref.redis"
LC_ALL=C sort -o "$T/ref.parts" "$T/ref.parts"

for p in 1 2; do
    redis-cli -p "$RPORT" flushall >/dev/null
    redis-cli -p "$RPORT" subscribe analytics:updates >"$T/sub$p.txt" 2>&1 &
    SUB=$!
    sleep 0.3
    cat >"$T/job$p.json" <<JOB
{"name": "three-sinks", "parallelism": $p,
 "operators": [
  {"id": "events", "type": "source.kafka", "brokers": "$KAFKA", "topic": "clicks",
   "start": "earliest", "stop": "latest",
   "schema": {"event_type": "string", "user_id": "string", "ts": "timestamp", "duration_ms": "int"},
   "event_time": {"field": "ts", "max_out_of_orderness": "0s"}},
  {"id": "per-minute", "type": "window", "key_by": ["event_type"],
   "window": {"type": "tumbling", "size": "1m"},
   "aggregates": {"events": "count(*)", "total_ms": "sum(duration_ms)", "users": "count_distinct(user_id)"}},
  {"id": "to-redis", "type": "sink.redis", "address": "127.0.0.1:$RPORT",
   "key": "analytics:{event_type}:{window_start}", "ttl": "30d", "publish": "analytics:updates"},
  {"id": "to-kafka", "type": "sink.kafka", "input": "per-minute", "brokers": "$KAFKA",
   "topic": "results$p", "key": "event_type"},
  {"id": "to-lake", "type": "sink.file", "input": "per-minute", "path": "s3://lake/run$p",
   "partition_by": "year=%Y/month=%m/day=%d/hour=%H"}
]}
JOB
    "$CFCTL" local --port 0 -q "$T/job$p.json" >"$T/local$p.out" 2>&1 || fail "-p $p: $(tail -3 "$T/local$p.out")"

    # Redis: every key, its value, a TTL of about 30 days, one message per write.
    redis-cli -p "$RPORT" --scan --pattern 'analytics:*' | LC_ALL=C sort >"$T/keys$p"
    while read -r k; do printf '%s\t%s\n' "$k" "$(redis-cli -p "$RPORT" get "$k")"; done <"$T/keys$p" >"$T/redis$p"
    cmp -s "$T/ref.redis" "$T/redis$p" || fail "-p $p: Redis differs: $(diff "$T/ref.redis" "$T/redis$p" | head -3)"
    ttl=$(redis-cli -p "$RPORT" ttl "$(head -1 "$T/keys$p")")
    [ "$ttl" -gt 2591000 ] && [ "$ttl" -le 2592000 ] || fail "-p $p: TTL $ttl is not 30 days"
    sleep 0.3
    kill "$SUB" 2>/dev/null || true
    msgs=$(grep -c '^analytics:updates$' "$T/sub$p.txt" || true)
    # redis-cli prints "message", channel, payload per message (plus one subscribe reply)
    [ "$((msgs - 1))" -eq "$(wc -l <"$T/ref.redis")" ] || fail "-p $p: $((msgs - 1)) Pub/Sub messages for $(wc -l <"$T/ref.redis") writes"

    # Kafka: the run's results topic read back with kcat (keyed by event type).
    kcat -C -b "$KAFKA" -t "results$p" -e -q -f '%k\t%s\n' >"$T/kafka$p.raw" || fail "kcat consume"
    python3 - "$T/kafka$p.raw" "$T/ref.rows" <<'PY' || fail "-p $p: Kafka output differs"
import json, sys
raw = [l.rstrip("\n").split("\t", 1) for l in open(sys.argv[1])]
ref = sorted(l.rstrip("\n") for l in open(sys.argv[2]))
got = sorted(v for k, v in raw)
assert got == ref, f"{len(raw)} messages, expected {len(ref)}"
assert all(json.loads(v)["event_type"] == k for k, v in raw), "message keys"
PY

    # S3: the objects under s3://lake/run$p, by partition.
    "$X" list "s3://lake/run$p" | cut -d' ' -f1 >"$T/objs$p"
    [ -s "$T/objs$p" ] || fail "-p $p: no objects"
    while read -r url; do
        dir=$(dirname "${url#s3://lake/run$p/}")
        "$X" get "$url" | sed "s#^#$dir\t#"
    done <"$T/objs$p" | LC_ALL=C sort >"$T/parts$p"
    cmp -s "$T/ref.parts" "$T/parts$p" || fail "-p $p: S3 objects differ: $(diff "$T/ref.parts" "$T/parts$p" | head -3)"
    pass "-p $p: $(wc -l <"$T/ref.rows") window rows exact in Redis (TTL 30d, $((msgs - 1)) messages), Kafka and $(wc -l <"$T/objs$p") S3 objects"
done
