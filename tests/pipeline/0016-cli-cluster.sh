#!/usr/bin/env bash
# cfctl's cluster commands against `cfctl local`'s REST API (its embedded coordinator): list
# (Flink's line format, -m, $CF_COORDINATOR, -a), info (name, state, vertices; unknown job
# exit 1; bad id exit 2), run (a missing savepoint is refused with the server's message; a
# bad spec exits 2 before any request), savepoint (completes into the given directory),
# checkpoint (refused: no checkpoints.dir), cancel (exit 0, the job ends CANCELED), and an
# unreachable coordinator (exit 1, one line naming it).
source "$(dirname "$0")/lib/common.sh"
MULT=${CF_TEST_TIMEOUT_MULT:-1}
# Every cfctl call is bounded, so a broken client fails the test instead of hanging it.
cf() { timeout $((60 * MULT)) "$CFCTL" "$@"; }

cat >"$T/job.json" <<JOB
{"name": "cluster-cli", "parallelism": 1, "operators": [
  {"id": "clicks", "type": "source.datagen", "rate": 500},
  {"id": "buys", "type": "filter", "where": "event_type = 'purchase'"},
  {"id": "out", "type": "sink.file", "path": "$T/out"}
]}
JOB
cat >"$T/bad.json" <<'JOB'
{"name": "bad", "operators": [{"id": "x", "type": "source.nope"}]}
JOB

"$CFCTL" local -q --port 0 "$T/job.json" >"$T/local.out" 2>"$T/local.err" &
pid=$!
cleanup() {
    for p in $pid; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$T"
}
trap cleanup EXIT
for _ in $(seq $((100 * MULT))); do
    grep -qs 'REST API on' "$T/local.err" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$T/local.err") || fail "no REST URL: $(cat "$T/local.err")"

# list: exactly one job line, Flink's format, RUNNING; the same through $CF_COORDINATOR and
# with a "host:port" URL.
line_re='^[0-3][0-9]\.[01][0-9]\.[0-9]{4} [0-2][0-9]:[0-5][0-9]:[0-5][0-9] : [0-9a-f]{32} : '
line_re+='cluster-cli \(RUNNING\)$'
expect_exit 0 cf -m "$url" list
[ "$(wc -l <"$T/stdout")" -eq 1 ] || fail "list: $(cat "$T/stdout")"
grep -Eq "$line_re" "$T/stdout" || fail "list line: $(cat "$T/stdout")"
jid=$(awk '{print $4}' "$T/stdout")
# The start time is the job's start-time from /jobs/overview, formatted in UTC.
want=$(python3 - "$url" <<'PY'
import datetime, json, sys, urllib.request
j = json.load(urllib.request.urlopen(sys.argv[1] + "/jobs/overview", timeout=5))["jobs"][0]
t = datetime.datetime.fromtimestamp(j["start-time"] / 1000, datetime.timezone.utc)
print("%s : %s : %s (%s)" % (t.strftime("%d.%m.%Y %H:%M:%S"), j["jid"], j["name"], j["state"]))
PY
)
[ "$want" = "$(cat "$T/stdout")" ] || fail "list: '$(cat "$T/stdout")', expected '$want'"
cp "$T/stdout" "$T/list.m"
expect_exit 0 timeout $((60 * MULT)) env CF_COORDINATOR="$url" "$CFCTL" list
same_lines "$T/list.m" "$T/stdout" "list via CF_COORDINATOR"
expect_exit 0 cf -m "${url#http://}" list -a
same_lines "$T/list.m" "$T/stdout" "list -a with host:port"
pass "list"

# info: name, id, state, vertex names; unknown job 1; bad id 2.
expect_exit 0 cf -m "$url" info "$jid"
for want in "cluster-cli" "$jid" "RUNNING" "Source: clicks -> buys -> Sink: out" "RECORDS IN"; do
    grep -qF -- "$want" "$T/stdout" || fail "info lacks '$want': $(cat "$T/stdout")"
done
expect_exit 1 cf -m "$url" info 0123456789abcdef0123456789abcdef
grep -qF "job 0123456789abcdef0123456789abcdef not found" "$T/stderr" ||
    fail "info unknown: $(cat "$T/stderr")"
[ ! -s "$T/stdout" ] || fail "info unknown printed: $(cat "$T/stdout")"
expect_exit 2 cf -m "$url" info nothex
grep -qF "'nothex' is not a job id" "$T/stderr" || fail "info nothex: $(cat "$T/stderr")"
expect_exit 2 cf -m "$url" info
pass "info"

# run: validated locally, then refused by the coordinator: the savepoint does not exist.
expect_exit 1 cf -m "$url" run -p 2 -s "$T/sp 1" -n "$T/job.json"
grep -qF "savepointPath: $T/sp 1" "$T/stderr" || fail "run message: $(cat "$T/stderr")"
[ "$(wc -l <"$T/stderr")" -eq 1 ] || fail "run: more than one line: $(cat "$T/stderr")"
grep -q "submitted" "$T/stdout" && fail "run claims a submission"
expect_exit 2 cf -m http://127.0.0.1:1 run "$T/bad.json"
grep -qF "operators[0].type" "$T/stderr" || fail "run bad spec: $(cat "$T/stderr")"
grep -q "cannot reach" "$T/stderr" && fail "run sent an invalid spec"
expect_exit 2 cf -m "$url" run -p 0 "$T/job.json"
pass "run"

# savepoint into a directory; checkpoint needs checkpoints.dir in the spec.
expect_exit 0 cf -m "$url" savepoint "$jid" "$T/sp"
grep -Eq "^Savepoint completed. Path: $T/sp/savepoint-[0-9a-f]{6}-[0-9a-f]{12}\$" "$T/stdout" ||
    fail "savepoint: $(cat "$T/stdout" "$T/stderr")"
sp=$(sed 's/^Savepoint completed. Path: //' "$T/stdout")
[ -s "$sp/_metadata" ] || fail "no _metadata in $sp"
expect_exit 1 cf -m "$url" checkpoint "$jid"
grep -qF "job $jid has no checkpoints.dir in its spec" "$T/stderr" ||
    fail "checkpoint: $(cat "$T/stderr")"
expect_exit 2 cf -m "$url" savepoint
expect_exit 2 cf -m "$url" stop --bogus "$jid"
pass "savepoint, checkpoint"

# The job is still running after all of that; cancel ends it.
expect_exit 0 cf -m "$url" list
grep -Eq "$line_re" "$T/stdout" || fail "job not running before cancel: $(cat "$T/stdout")"
expect_exit 0 cf -m "$url" cancel "$jid"
[ "$(cat "$T/stdout")" = "Cancelled job $jid." ] || fail "cancel output: $(cat "$T/stdout")"
rc=0
for _ in $(seq $((100 * MULT))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "cfctl local still running after cancel"
wait "$pid" || rc=$?
[ "$rc" -eq 1 ] || fail "cfctl local exited $rc after cancel, expected 1"
grep -q "cluster-cli CANCELED" "$T/local.err" || fail "no CANCELED line: $(cat "$T/local.err")"
pass "cancel"

# Unreachable coordinator: exit 1, one line naming the URL.
expect_exit 1 cf -m http://127.0.0.1:1 list
[ "$(wc -l <"$T/stderr")" -eq 1 ] || fail "unreachable: $(cat "$T/stderr")"
grep -qF "cfctl: cannot reach http://127.0.0.1:1" "$T/stderr" ||
    fail "unreachable: $(cat "$T/stderr")"
expect_exit 1 cf -m http://127.0.0.1:1 cancel "$jid"
grep -qF "cannot reach http://127.0.0.1:1" "$T/stderr" ||
    fail "cancel unreachable: $(cat "$T/stderr")"
expect_exit 2 cf -m ftp://127.0.0.1:1 list
expect_exit 2 "$CFCTL" -m
pass "unreachable coordinator and bad URLs"
