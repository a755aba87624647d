#!/usr/bin/env bash
# sink.redis options, checked against an independent computation: hset with a NULL field
# in the key ("null") and NULL row fields removed from the hash (HDEL, even when an earlier
# write set them), a millisecond TTL (PEXPIRE), a strftime-formatted timestamp in the key,
# {{ }} escapes, incrby sums with an hourly TTL (each increment published), set with an int expression (NULL values
# skip the row and publish nothing; the payload carries the value as a JSON number), a
# timestamp value (ISO-8601 text), and the database from a redis:// address or `database`.
# Then the spec errors: each names the operator's JSON path and the problem.
source "$(dirname "$0")/lib/common.sh"
source "$LIB/redis.sh"
DATA=$TOP/examples/data/queries.jsonl
python3 "$LIB/redis_ref.py" modes "$DATA" 0 >"$T/expected-db0.jsonl"
python3 "$LIB/redis_ref.py" modes "$DATA" 3 >"$T/expected-db3.jsonl"

redis_start
SCHEMA='{"query_id": "string", "identifier": "string", "user_type": "string",
         "department": "string", "year": "int", "status": "string", "response_ms": "int",
         "ts": "timestamp"}'
cat >"$T/job.json" <<JOB
{"name": "redis-modes", "parallelism": 2, "operators": [
  {"id": "queries", "type": "source.file", "path": "$DATA", "schema": $SCHEMA,
   "event_time": {"field": "ts", "max_out_of_orderness": "2s"}},
  {"id": "by-type-year", "type": "window", "key_by": ["user_type", "year"],
   "window": {"type": "tumbling", "size": "30s"},
   "aggregates": {"queries": "count(*)", "max_year": "max(year)"}},
  {"id": "hashes", "type": "sink.redis", "address": "127.0.0.1:$REDIS_PORT", "mode": "hset",
   "key": "t:{user_type}:{year}:{window_start:%H%M%S}", "ttl": "100001ms",
   "publish": "t:updates"},
  {"id": "counts", "type": "sink.redis", "input": "queries", "address": "127.0.0.1:$REDIS_PORT",
   "mode": "incrby", "key": "n:{{tag}}:{department}:{status}", "value": "1"},
  {"id": "ms-published", "type": "sink.redis", "input": "queries",
   "address": "127.0.0.1:$REDIS_PORT", "mode": "incrby", "key": "ms:{department}",
   "value": "response_ms", "ttl": "1h", "publish": "ms:updates"},
  {"id": "doubled", "type": "sink.redis", "input": "queries",
   "address": "redis://127.0.0.1:$REDIS_PORT/3", "key": "v:{query_id}",
   "value": "CASE WHEN status = 'success' THEN response_ms * 2 END", "publish": "q:updates"},
  {"id": "times", "type": "sink.redis", "input": "queries", "address": "127.0.0.1:$REDIS_PORT",
   "database": 3, "key": "ts:{query_id}:{ts:%Y%m%d}", "value": "ts"}
]}
JOB
expect_exit 0 "$CFCTL" validate "$T/job.json"

# A stale hash: fields the job's row has as NULL must be gone afterwards.
stale=$(python3 -c 'import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o["key"].startswith("t:") and ":null:" in o["key"]:
        print(o["key"]); break' "$T/expected-db0.jsonl")
[ -n "$stale" ] || fail "no NULL-year window in the reference"
rcli hset "$stale" year 1999 max_year 1999 >/dev/null

for ch in q t ms; do
    redis_subscribe "$ch:updates" "$T/messages-$ch.txt"
done
expect_exit 0 "$CFCTL" local "$T/job.json"
for ch in q t ms; do
    redis_sync_messages "$ch:updates" "$T/messages-$ch.txt"
done
python3 "$LIB/redis_dump.py" "$REDIS_PORT" '*' 0 >"$T/got-db0.jsonl"
python3 "$LIB/redis_dump.py" "$REDIS_PORT" '*' 3 >"$T/got-db3.jsonl"
python3 "$LIB/redis_check.py" "$T/expected-db0.jsonl" "$T/got-db0.jsonl" \
    --messages "$T/messages-t.txt" t: --increments "$T/messages-ms.txt" ms: >"$T/check0" ||
    fail "database 0 contents"
python3 "$LIB/redis_check.py" "$T/expected-db3.jsonl" "$T/got-db3.jsonl" \
    --messages "$T/messages-q.txt" v: >"$T/check3" || fail "database 3 contents"
[ "$(rcli hexists "$stale" max_year)" = 0 ] || fail "NULL field max_year of $stale not removed"
grep -q '"value":1596}' "$T/messages-q.txt" || fail "int payload not a JSON number"
pass "hset/incrby (db 0): $(cat "$T/check0")"
pass "set with expressions (db 3): $(cat "$T/check3")"
grep -q "skipped (NULL value)" "$T/stderr" || fail "no summary line"

# Spec errors: exit 2, the JSON path and the reason.
bad() {
    local what=$1 sink=$2 want=$3
    cat >"$T/bad.json" <<JOB
{"name": "bad", "operators": [
  {"id": "queries", "type": "source.file", "path": "$DATA", "schema": $SCHEMA},
  $sink
]}
JOB
    expect_exit 2 "$CFCTL" validate "$T/bad.json"
    grep -qF -- "$want" "$T/stderr" || { cat "$T/stderr" >&2; fail "$what: no '$want'"; }
}
bad "unknown key field" '{"id": "r", "type": "sink.redis", "key": "a:{nope}"}' \
    "operators[1].key: unknown field 'nope'"
bad "unclosed brace" '{"id": "r", "type": "sink.redis", "key": "a:{user_type"}' \
    "operators[1].key: unclosed '{'"
bad "format on a string" '{"id": "r", "type": "sink.redis", "key": "{user_type:%Y}"}' \
    "{user_type:...} formats timestamps"
bad "bad time format" '{"id": "r", "type": "sink.redis", "key": "{ts:%Q}"}' \
    "operators[1].key: bad time format"
bad "missing key" '{"id": "r", "type": "sink.redis"}' "operators[1].key: required"
bad "incrby without value" '{"id": "r", "type": "sink.redis", "key": "k", "mode": "incrby"}' \
    "operators[1].value: incrby needs an int expression"
bad "incrby of a string" \
    '{"id": "r", "type": "sink.redis", "key": "k", "mode": "incrby", "value": "status"}' \
    "is string"
bad "hset with value" \
    '{"id": "r", "type": "sink.redis", "key": "k", "mode": "hset", "value": "status"}' \
    "operators[1].value: not used in hset mode"
bad "bad value expression" '{"id": "r", "type": "sink.redis", "key": "k", "value": "nope + 1"}' \
    "operators[1].value: unknown field 'nope'"
bad "bad port" '{"id": "r", "type": "sink.redis", "key": "k", "address": "127.0.0.1:99999"}' \
    "operators[1].address: bad port"
bad "bad port, password" \
    '{"id": "r", "type": "sink.redis", "key": "k", "address": "redis://:hunter2@h:99999"}' \
    'operators[1].address: bad port in "redis://...@h:99999"'
! grep -q hunter2 "$T/stderr" || fail "the password was printed"
bad "tls" '{"id": "r", "type": "sink.redis", "key": "k", "address": "rediss://h:1"}' \
    "TLS (rediss://) is not supported"
bad "two databases" \
    '{"id": "r", "type": "sink.redis", "key": "k", "address": "redis://h/2", "database": 1}' \
    "operators[1].database: 1 contradicts the database /2"
bad "typo" '{"id": "r", "type": "sink.redis", "key": "k", "tll": "1h"}' \
    "operators[1].tll: unknown key (did you mean 'ttl'?)"
bad "bad mode" '{"id": "r", "type": "sink.redis", "key": "k", "mode": "lpush"}' \
    "operators[1].mode: \"lpush\" is not one of set, hset, incrby"
pass "spec errors name the path and the problem"
