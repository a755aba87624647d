#!/usr/bin/env bash
# sink.redis, set/hset/incrby against a real redis-server: the query-analytics example
# (examples/redis/run.sh) writes exactly the keys, values and TTLs an independent
# computation gives (20 s windows per user type as JSON strings with a 30-day TTL, minute
# success counts as hashes, INCRBY counters), and publishes exactly one Pub/Sub message per
# window write, {"key": ..., "value": <the row>}. Then the same job at -p 1 and -p 4 into a
# fresh server gives the same contents.
source "$(dirname "$0")/lib/common.sh"
source "$LIB/redis.sh"
DATA=$TOP/examples/data/queries.jsonl

expect_exit 0 "$CFCTL" validate "$TOP/examples/redis/query-analytics.json"
python3 "$LIB/redis_ref.py" example "$DATA" >"$T/expected.jsonl"
[ "$(wc -l <"$T/expected.jsonl")" -gt 150 ] || fail "reference too small"

# The example as users run it (its own redis-server on a free port, -p 2 from the spec).
export CFCTL
expect_exit 0 "$TOP/examples/redis/run.sh" "$T/example"
grep -q "^window results:  139 JSON strings" "$T/stdout" || { cat "$T/stdout"; fail "run.sh summary"; }
python3 "$LIB/redis_check.py" "$T/expected.jsonl" "$T/example/keys.jsonl" \
    --messages "$T/example/messages.txt" analytics:user_type: >"$T/check" || fail "example contents"
pass "example (run.sh): $(cat "$T/check")"

# Other parallelisms, with our own server and subscriber.
redis_start
for p in 1 4; do
    rcli flushall >/dev/null
    redis_subscribe analytics:updates "$T/messages-p$p.txt"
    sed "s#127.0.0.1:6379#127.0.0.1:$REDIS_PORT#g" "$TOP/examples/redis/query-analytics.json" \
        >"$T/job.json"
    (cd "$TOP" && expect_exit 0 "$CFCTL" local -p "$p" "$T/job.json")
    redis_sync_messages analytics:updates "$T/messages-p$p.txt"
    python3 "$LIB/redis_dump.py" "$REDIS_PORT" '*' >"$T/got-p$p.jsonl"
    python3 "$LIB/redis_check.py" "$T/expected.jsonl" "$T/got-p$p.jsonl" \
        --messages "$T/messages-p$p.txt" analytics:user_type: >"$T/check" || fail "-p $p contents"
    pass "-p $p: $(cat "$T/check")"
done
