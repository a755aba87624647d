#!/usr/bin/env bash
# An unbounded job keeps bounded state: windows are purged after they fire, so memory stays
# flat while event time advances through many windows. Ctrl-C (SIGINT) cancels the job:
# exit 1 and a CANCELED line.
source "$(dirname "$0")/lib/common.sh"
cat >"$T/job.json" <<JOB
{"name": "unbounded", "parallelism": 2, "operators": [
  {"id": "clicks", "type": "source.datagen", "users": 20000, "ts_jitter": "3s",
   "event_time": {"field": "ts", "max_out_of_orderness": "5s"}},
  {"id": "per-user", "type": "window", "key_by": ["user_id"],
   "window": {"type": "sliding", "size": "2m", "slide": "30s"},
   "aggregates": {"events": "count(*)", "pages": "count_distinct(page_url)", "ms": "sum(duration_ms)"}},
  {"id": "none", "type": "filter", "where": "events < 0"},
  {"id": "out", "type": "sink.file", "path": "$T/out"}
]}
JOB
# Under ASan freed memory sits in a quarantine (256 MB by default): keep it small so RSS
# reflects live state; allow ASan's shadow memory on top.
limit=262144
if [ "${SANITIZER:-}" = address ]; then
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8:thread_local_quarantine_size_kb=256
    limit=524288
fi
"$CFCTL" local "$T/job.json" >"$T/stdout" 2>"$T/stderr" &
pid=$!
rss() { awk '/VmRSS/ {print $2}' /proc/$pid/status; }
sleep 2
early=$(rss)
sleep 4
late=$(rss)
kill -0 $pid || fail "job ended early: $(cat "$T/stderr")"
kill -INT $pid
set +e; wait $pid; rc=$?; set -e
echo "RSS after 2 s: ${early} KB, after 6 s: ${late} KB"
[ "$rc" -eq 1 ] || fail "exit $rc after SIGINT, expected 1"
grep -q "unbounded CANCELED" "$T/stderr" || fail "no CANCELED line: $(tail -2 "$T/stderr")"
[ "$late" -lt "$limit" ] || fail "RSS ${late} KB: state is not bounded"
[ "$late" -lt $((early * 3 / 2 + 16384)) ] || fail "RSS grew from ${early} KB to ${late} KB"
pass "bounded state under an unbounded stream"
