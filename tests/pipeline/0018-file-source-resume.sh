#!/usr/bin/env bash
# source.file across several stops and resumes: a job reading files in many small splits at
# -p 2 is stopped with a savepoint twice (Ctrl-C) and resumed each time (at -p 3, then -p 2);
# the committed output is every input line exactly once: splits read to their end before the
# first savepoint stay done after the second (they were forgotten once), and the splits in
# progress resume at their line.
source "$(dirname "$0")/lib/common.sh"
MULT=${CF_TEST_TIMEOUT_MULT:-1}
mkdir -p "$T/in"
python3 - "$T/in" <<'PY'
import sys
for f in range(3):
    with open(f"{sys.argv[1]}/part-{f}.json", "w") as out:
        for i in range(8000):
            n = f * 8000 + i
            out.write('{"id": %d, "name": "row-%06d-%s"}\n' % (n, n, "x" * (n % 37)))
PY
cat >"$T/job.json" <<JOB
{"name": "file-resume", "parallelism": 2,
 "checkpoints": {"interval": "300ms", "dir": "$T/ck"},
 "operators": [
  {"id": "lines", "type": "source.file", "path": "$T/in", "split_size": "16KB", "rate": 6000,
   "schema": {"id": "int", "name": "string"}},
  {"id": "out", "type": "sink.file", "path": "$T/out", "format": "json"}
]}
JOB
python3 -c '
import json, sys
for f in range(3):
    for line in open(f"{sys.argv[1]}/part-{f}.json"):
        print(json.dumps(json.loads(line), separators=(",", ":")))' "$T/in" | sort >"$T/want.rows"

# run_until_savepoint NAME [cfctl flags]: runs the job, Ctrl-C after about 1.5 s; sets SP
run_until_savepoint() {
    local name=$1; shift
    "$CFCTL" local --port 0 "$@" "$T/job.json" >"$T/$name.out" 2>"$T/$name.err" &
    local pid=$!
    sleep 1.5
    kill -INT "$pid"
    local rc=0
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "$name: cfctl local exited $rc: $(tail -5 "$T/$name.err")"
    SP=$(sed -n 's/^cfctl: savepoint stored in //p' "$T/$name.err")
    [ -n "$SP" ] && [ -s "$SP/_metadata" ] || fail "$name: no savepoint: $(tail -5 "$T/$name.err")"
}
run_until_savepoint run1
n1=$(cat "$T"/out/part-* 2>/dev/null | wc -l)
run_until_savepoint run2 -p 3 -s "$SP"
n2=$(cat "$T"/out/part-* 2>/dev/null | wc -l)
[ "$n1" -lt "$n2" ] && [ "$n2" -lt 24000 ] || fail "runs 1 and 2 were not both interrupted midway ($n1, $n2 rows)"
expect_exit 0 "$CFCTL" local -q --port 0 -s "$SP" "$T/job.json"
cat "$T"/out/part-* | python3 -c '
import json, sys
for line in sys.stdin: print(json.dumps(json.loads(line), separators=(",", ":")))' | sort >"$T/got.rows"
same_lines "$T/want.rows" "$T/got.rows" "two savepoint stops and resumes"
pass "source.file: two stops with a savepoint and resumes, every line exactly once ($n1, $n2, $(wc -l <"$T/got.rows") rows)"
