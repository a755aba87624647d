#!/usr/bin/env bash
# cfctl local checkpoints like a cluster: Ctrl-C stops the job with a savepoint (exit 0,
# FINISHED, the savepoint's path printed), `cfctl local -s` resumes from it at another
# parallelism, and the committed output of both runs is exactly that of one uninterrupted
# run. A job without checkpoints.dir is canceled by Ctrl-C (exit 1). A missing savepoint is
# refused by name.
source "$(dirname "$0")/lib/common.sh"
MULT=${CF_TEST_TIMEOUT_MULT:-1}
job() { # job FILE OUT RATE: 30,000 clicks, 10 s windows per type, exactly-once file sink
    cat >"$1" <<JOB
{"name": "sp-local", "parallelism": 2,
 "checkpoints": {"interval": "500ms", "dir": "$T/ck"},
 "operators": [
  {"id": "clicks", "type": "source.datagen", "count": 30000, "rate": $3, "seed": 7,
   "event_time": {"field": "ts", "max_out_of_orderness": "0s"}},
  {"id": "per-type", "type": "window", "key_by": ["event_type", "country"],
   "window": {"type": "tumbling", "size": "10s"}, "aggregates": {"n": "count(*)"}},
  {"id": "out", "type": "sink.file", "path": "$2", "format": "json"}
]}
JOB
}
job "$T/ref.json" "$T/ref" 0
expect_exit 0 "$CFCTL" local -q --port 0 "$T/ref.json"
cat "$T"/ref/part-* | sort >"$T/ref.rows"
[ "$(wc -l <"$T/ref.rows")" -gt 100 ] || fail "reference output too small"

job "$T/job.json" "$T/out" 6000
"$CFCTL" local --port 0 "$T/job.json" >"$T/run1.out" 2>"$T/run1.err" &
pid=$!
# Interrupt once a checkpoint completed and part of the input is in.
for _ in $(seq $((100 * MULT))); do
    ls "$T"/ck/*/chk-* >/dev/null 2>&1 && break
    sleep 0.1
done
sleep 1
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "cfctl local exited $rc after Ctrl-C: $(cat "$T/run1.err")"
grep -q "stopping job sp-local with a savepoint" "$T/run1.err" || fail "no stop line: $(cat "$T/run1.err")"
grep -q "sp-local FINISHED" "$T/run1.err" || fail "not FINISHED: $(cat "$T/run1.err")"
sp=$(sed -n 's/^cfctl: savepoint stored in //p' "$T/run1.err")
[ -n "$sp" ] && [ -s "$sp/_metadata" ] || fail "no savepoint: $(cat "$T/run1.err")"
case "$sp" in "$T/ck/savepoints/"*) ;; *) fail "savepoint not under checkpoints.dir: $sp" ;; esac
first=$(cat "$T"/out/part-* 2>/dev/null | wc -l)
[ "$first" -lt "$(wc -l <"$T/ref.rows")" ] || fail "the first run was not interrupted ($first rows)"

expect_exit 0 "$CFCTL" local -q --port 0 -p 3 -s "$sp" "$T/job.json"
cat "$T"/out/part-* | sort >"$T/out.rows"
same_lines "$T/ref.rows" "$T/out.rows" "stop with savepoint + resume at -p 3"
pass "Ctrl-C stop with savepoint, resume at -p 3: $(wc -l <"$T/out.rows") rows exact ($first before the stop)"

expect_exit 2 "$CFCTL" local -q --port 0 -s "$T/nope" "$T/job.json"
grep -qF "savepointPath: $T/nope" "$T/stderr" || fail "missing savepoint: $(cat "$T/stderr")"
pass "a missing savepoint is refused by name"

# Without checkpoints.dir, Ctrl-C cancels.
cat >"$T/plain.json" <<JOB
{"name": "plain", "operators": [
  {"id": "clicks", "type": "source.datagen", "rate": 1000},
  {"id": "out", "type": "sink.blackhole"}
]}
JOB
"$CFCTL" local --port 0 "$T/plain.json" >"$T/run2.out" 2>"$T/run2.err" &
pid=$!
for _ in $(seq $((100 * MULT))); do
    grep -qs 'REST API on' "$T/run2.err" && break
    sleep 0.1
done
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 1 ] || fail "exit $rc after Ctrl-C without checkpoints.dir"
grep -q "interrupted, canceling job plain" "$T/run2.err" || fail "$(cat "$T/run2.err")"
grep -q "plain CANCELED" "$T/run2.err" || fail "not CANCELED: $(cat "$T/run2.err")"
pass "Ctrl-C without checkpoints.dir cancels"
