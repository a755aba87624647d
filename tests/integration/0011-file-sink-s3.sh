#!/usr/bin/env bash
# sink.file writing to object storage (s3:// and gs://) on a local s3rver that checks SigV4
# signatures (lib_s3.sh). Objects are read back through the client (objstore_tool, built as in
# 0010-objstore.sh), never from the server's data directory:
#  1. `cfctl local`: datagen -> filter -> sink.file on s3://lake/clicks partitioned by
#     year=/month=/day=/hour= with a small rolling.max_size: the objects' rows, each with the
#     partition of its key, equal those of the same job writing to a local directory; the
#     keys carry exactly the expected partitions and every row's ts lies in its partition;
#     small max_size gives several parts per partition. A part above the client's multipart
#     part size (8 MiB) goes up as a multipart upload (?uploads=, several partNumber=, one
#     CompleteMultipartUpload) with the right content; throughput is printed. gs:// works on
#     the same server. A missing bucket and a wrong secret fail the job with a message that
#     names the URL and never the secret.
#  2. Exactly once on a cluster: a window job checkpointing every second to s3://ckpt writes
#     to s3://lake/eo while a worker is killed with -9 twice (a replacement registers each
#     time; the first kill usually lands between a checkpoint's completion and its commit, so
#     the restored attempt completes the dead worker's uploads); the committed objects hold
#     exactly the rows of an uninterrupted `cfctl local` run, in the same partitions.
#  3. At least once on the cluster, a worker killed: no row of an uninterrupted run missing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_s3.sh"
CFCTL=$BIN/cfctl

# ---- objstore_tool, built against the library of this build flavour (as 0010 does) ----
san=${SANITIZER:-}
if [ -z "$san" ]; then
    case "$BIN" in */build-address/bin) san=address ;; */build-undefined/bin) san=undefined ;; esac
fi
vars=$(cd "$TOP" && make -s --no-print-directory SANITIZER="$san" -f Makefile -f - cf-print-vars <<'MK'
cf-print-vars: ; @echo '$(CC)|$(LDFLAGS)|$(abspath $(LIB))|$(LDLIBS)'
MK
) || fail "cannot read the build variables from the Makefile"
IFS='|' read -r cc ldflags lib ldlibs <<<"$vars"
[ -f "$lib" ] || fail "$lib is missing: build the library first (make)"
X=$T/objstore_tool
# shellcheck disable=SC2086 # flag lists
$cc -std=c11 -D_GNU_SOURCE -pthread -g -O1 -I"$TOP" $ldflags -o "$X" \
    "$TOP/tests/integration/objstore_tool.c" "$lib" $ldlibs 2>"$T/tool-build.err" ||
    fail "cannot build objstore_tool: $(cat "$T/tool-build.err")"

start_s3 lake ckpt || fail "no S3 server"

# fetch_objects PREFIX OUT: every object under PREFIX as "<partition>\t<row>" lines, sorted
# (partition: the key's directory below PREFIX); the object URLs go to OUT.keys.
fetch_objects() {
    "$X" list "$1" >"$2.list" || fail "list $1"
    cut -d' ' -f1 "$2.list" >"$2.keys"
    local url dir
    while read -r url; do
        dir=$(dirname "${url#"$1"/}")
        "$X" get "$url" | sed "s#^#$dir\t#"
    done <"$2.keys" | LC_ALL=C sort >"$2"
}
# local_rows DIR OUT: the same for the committed part files of a local directory.
local_rows() {
    local f dir
    find "$1" -name 'part-*' -type f | while read -r f; do
        dir=$(dirname "${f#"$1"/}")
        sed "s#^#$dir\t#" "$f"
    done | LC_ALL=C sort >"$2"
}
same_rows() { # same_rows WANT GOT WHAT
    if ! cmp -s "$1" "$2"; then
        diff "$1" "$2" | head -5 >&2
        fail "$3: $(wc -l <"$2") rows, want $(wc -l <"$1")"
    fi
}

# ---- 1. cfctl local: partitions, rolling ----
clicks() { # clicks PATH COUNT PARALLELISM EXTRA_SINK_KEYS
    cat <<JOB
{"name": "clicks-to-lake", "parallelism": $3, "operators": [
  {"id": "clicks", "type": "source.datagen", "generator": "clickstream", "seed": 7, "count": $2,
   "start_time": "2024-10-22T22:30:00Z", "ts_step": "500ms", "ts_jitter": "3s",
   "event_time": {"field": "ts", "max_out_of_orderness": "5s"}},
  {"id": "valid", "type": "filter", "where": "duration_ms > 100"},
  {"id": "out", "type": "sink.file", "path": "$1"$4}
]}
JOB
}
PART='"partition_by": "year=%Y/month=%m/day=%d/hour=%H", "rolling": {"max_size": "48KB"}'
clicks "$T/ref1" 30000 2 ", $PART" >"$T/ref1.json"
clicks "s3://lake/clicks" 30000 2 ", $PART" >"$T/s3.json"
"$CFCTL" local --port 0 "$T/ref1.json" >"$T/ref1.out" 2>&1 || fail "local reference: $(tail -3 "$T/ref1.out")"
"$CFCTL" local --port 0 "$T/s3.json" >"$T/s3.out" 2>&1 || fail "s3 run: $(tail -3 "$T/s3.out")"
local_rows "$T/ref1" "$T/ref1.rows"
fetch_objects s3://lake/clicks "$T/s3.rows"
[ "$(wc -l <"$T/ref1.rows")" -gt 10000 ] || fail "reference too small: $(wc -l <"$T/ref1.rows") rows"
same_rows "$T/ref1.rows" "$T/s3.rows" "rows and partitions of s3://lake/clicks vs a local directory"
parts=$(sed 's#^s3://lake/clicks/##; s#/[^/]*$##' "$T/s3.rows.keys" | sort -u | paste -sd' ')
[ "$parts" = "year=2024/month=10/day=22/hour=22 year=2024/month=10/day=22/hour=23 year=2024/month=10/day=23/hour=00 year=2024/month=10/day=23/hour=01 year=2024/month=10/day=23/hour=02" ] ||
    fail "partitions: $parts"
bad=$(grep -cvE '^s3://lake/clicks/year=2024/month=10/day=2[23]/hour=[0-9]{2}/part-[0-9a-f]{8}-[01]-[0-9]+\.json$' "$T/s3.rows.keys" || true)
[ "$bad" -eq 0 ] || fail "$bad object keys are not <prefix>/<partition>/part-<run>-<subtask>-<n>.json"
# every row's ts lies in the hour its key names
python3 - "$T/s3.rows" <<'PY' || fail "a row is in the wrong partition"
import json, sys
for line in open(sys.argv[1]):
    part, row = line.rstrip("\n").split("\t", 1)
    ts = json.loads(row)["ts"]  # 2024-10-22T22:30:00.000Z
    want = "year=%s/month=%s/day=%s/hour=%s" % (ts[0:4], ts[5:7], ts[8:10], ts[11:13])
    if part != want:
        sys.exit("%s: ts %s in %s" % (row[:60], ts, part))
PY
nobj=$(wc -l <"$T/s3.rows.keys")
[ "$nobj" -ge 40 ] || fail "rolling at 48KB gave only $nobj objects"
awk -v max=$((48 * 1024 + 2048)) '$2 > max { print; bad = 1 } END { exit bad }' "$T/s3.rows.list" ||
    fail "an object exceeds rolling.max_size"
grep -q ' 403$' "$S3_REQUEST_LOG" && fail "the S3 server refused a signature"
pass "cfctl local -> s3://lake/clicks: $(wc -l <"$T/s3.rows") rows in $nobj objects over 5 hour partitions, equal to a local directory"

# ---- multipart: one part of ~20 MB with the client's 8 MiB multipart parts ----
clicks "$T/ref2" 80000 1 "" >"$T/ref2.json"
clicks "s3://lake/big" 80000 1 "" >"$T/big.json"
"$CFCTL" local --port 0 "$T/ref2.json" >"$T/ref2.out" 2>&1 || fail "local reference 2"
: >"$S3_REQUEST_LOG"
t0=$(date +%s%N)
"$CFCTL" local --port 0 "$T/big.json" >"$T/big.out" 2>&1 || fail "multipart run: $(tail -3 "$T/big.out")"
t1=$(date +%s%N)
local_rows "$T/ref2" "$T/ref2.rows"
fetch_objects s3://lake/big "$T/big.rows"
same_rows "$T/ref2.rows" "$T/big.rows" "multipart part content"
size=$(awk '{ s += $2 } END { print s }' "$T/big.rows.list")
[ "$(wc -l <"$T/big.rows.keys")" -eq 1 ] && [ "$size" -gt $((2 * 8388608)) ] ||
    fail "want one object above 16 MiB: $(cat "$T/big.rows.list")"
grep -qE '^POST /lake/big/part-[0-9a-f-]+\.json\?uploads= 200$' "$S3_REQUEST_LOG" || fail "no multipart upload started"
nparts=$(grep -cE '^PUT /lake/big/part-[0-9a-f-]+\.json\?partNumber=[0-9]+&uploadId=[0-9a-f]+ 200$' "$S3_REQUEST_LOG" || true)
[ "$nparts" -eq $(( (size + 8388607) / 8388608 )) ] || fail "$nparts parts uploaded for $size bytes"
[ "$(grep -cE '^POST /lake/big/part-[0-9a-f-]+\.json\?uploadId=[0-9a-f]+ 200$' "$S3_REQUEST_LOG")" -eq 1 ] ||
    fail "want one CompleteMultipartUpload"
ms=$(( (t1 - t0) / 1000000 ))
pass "a $size-byte part as a $nparts-part multipart upload, exact content; whole job $ms ms ($(( 80000 * 1000 / ms )) rows/s generated, $(awk -v b="$size" -v ms="$ms" 'BEGIN { printf "%.1f", b / 1048576 / (ms / 1000) }') MiB/s)"

# ---- gs:// on the same server ----
clicks "gs://lake/gcs" 3000 2 ", $PART" >"$T/gs.json"
clicks "$T/ref3" 3000 2 ", $PART" >"$T/ref3.json"
"$CFCTL" local --port 0 "$T/gs.json" >"$T/gs.out" 2>&1 || fail "gs run: $(tail -3 "$T/gs.out")"
"$CFCTL" local --port 0 "$T/ref3.json" >"$T/ref3.out" 2>&1 || fail "local reference 3"
local_rows "$T/ref3" "$T/ref3.rows"
fetch_objects gs://lake/gcs "$T/gs.rows"
same_rows "$T/ref3.rows" "$T/gs.rows" "gs://lake/gcs"
pass "gs://lake/gcs: $(wc -l <"$T/gs.rows") rows equal to a local directory"

# ---- failures name the URL, never the secret ----
clicks "s3://no-such-bucket/x" 100 1 "" >"$T/nob.json"
rc=0; "$CFCTL" local --port 0 "$T/nob.json" >"$T/nob.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "missing bucket: exit $rc: $(tail -3 "$T/nob.out")"
grep -q 's3://no-such-bucket/x/part-.*NoSuchBucket' "$T/nob.out" || fail "missing bucket message: $(tail -3 "$T/nob.out")"
wrong="wrong-secret-$RANDOM$RANDOM"
rc=0; AWS_SECRET_ACCESS_KEY=$wrong "$CFCTL" local --port 0 "$T/big.json" >"$T/wrong.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "wrong secret: exit $rc"
grep -q 's3://lake/big/part-.*HTTP 403.*check AWS_SECRET_ACCESS_KEY' "$T/wrong.out" || fail "wrong secret message: $(tail -3 "$T/wrong.out")"
grep -qF -e "$wrong" -e "$AWS_SECRET_ACCESS_KEY" "$T/nob.out" "$T/wrong.out" && fail "a secret is in the output"
"$CFCTL" validate <(clicks "s3:///x" 1 1 "") >"$T/val.out" 2>&1 && fail "s3:/// validated"
grep -q 'operators\[2\].path: .*names no bucket' "$T/val.out" || fail "no-bucket message: $(cat "$T/val.out")"
pass "missing bucket, wrong secret, no bucket in the URL: clear errors, no secret"

# ---- 2. exactly once on a cluster, workers killed ----
: >"$S3_REQUEST_LOG"
start_coordinator coord --heartbeat-interval 200ms --heartbeat-timeout 2s
start_workers 2 2
eo() { # eo PATH CHECKPOINT_DIR COUNT RATE [MODE]
    cat <<JOB
{"name": "eo-to-lake", "parallelism": 2,
 "checkpoints": {"interval": "1s", "dir": "$2", "retain": 3, "mode": "${5:-exactly_once}"},
 "restart": {"strategy": "fixed_delay", "attempts": 10, "delay": "300ms"},
 "operators": [
  {"id": "clicks", "type": "source.datagen", "generator": "clickstream", "seed": 11,
   "count": $3, "rate": $4, "parallelism": 1, "ts_step": "100ms",
   "event_time": {"field": "ts", "max_out_of_orderness": "5s"}},
  {"id": "valid", "type": "filter", "where": "duration_ms > 100"},
  {"id": "per-user", "type": "window", "key_by": ["user_id"],
   "window": {"type": "tumbling", "size": "10s"},
   "aggregates": {"n": "count(*)", "ms": "sum(duration_ms)", "pages": "count_distinct(page_url)"}},
  {"id": "out", "type": "sink.file", "path": "$1", "partition_by": "year=%Y/month=%m/day=%d/hour=%H"}
]}
JOB
}
N=100000
eo "$T/ref4" unused $N 0 >"$T/ref4.json"
"$CFCTL" local --port 0 "$T/ref4.json" >"$T/ref4.out" 2>&1 || fail "eo reference: $(tail -3 "$T/ref4.out")"
local_rows "$T/ref4" "$T/ref4.rows"
[ "$(wc -l <"$T/ref4.rows")" -gt 10000 ] || fail "eo reference too small"

eo "s3://lake/eo" "s3://ckpt/eo" $N 7000 >"$T/eo.json"
"$CFCTL" -m "$REST" run "$T/eo.json" >"$T/run.out" 2>&1 || fail "run: $(cat "$T/run.out")"
jid=$(grep -o 'JobID [0-9a-f]*' "$T/run.out" | cut -d' ' -f2)
wait_for 10 field_is "$REST/jobs/$jid" 'd["state"]' RUNNING || fail "not RUNNING"
# Round 1 freezes the coordinator and both workers as soon as the coordinator logs a
# checkpoint complete, which usually beats its notification to the sinks, and kills a worker:
# the restored attempt then commits the uploads the dead worker prepared (the HEAD 404s
# counted below). Round 2 kills at a random moment after a checkpoint.
next=3
for round in 1 2; do
    if [ $round = 1 ]; then
        grep -m1 -q "checkpoint [0-9]* complete" < <(timeout 20 tail -n0 -f "$T/coord.err") ||
            fail "round 1: no checkpoint completed"
        kill -STOP "$COORD_PID" "${W[1]}" "${W[2]}"
    else
        done_before=$(grep -c "checkpoint [0-9]* complete" "$T/coord.err" || true)
        wait_for 20 bash -c "[ \$(grep -c 'checkpoint [0-9]* complete' '$T/coord.err') -gt $done_before ]" ||
            fail "round $round: no checkpoint completed"
        sleep "0.$((RANDOM % 9 + 1))"
    fi
    victim=$((RANDOM % 2 + 1))
    kill -9 "${W[$victim]}" 2>/dev/null || true
    kill -CONT "$COORD_PID" "${W[1]}" "${W[2]}" 2>/dev/null || true
    start_worker "w$next" 2; W[victim]=$WORKER_PID; next=$((next + 1))
    wait_for 20 grep -q "restarting (attempt $((round + 1)))" "$T/coord.err" ||
        fail "round $round: no restart"
done
wait_for 90 field_is "$REST/jobs/$jid" 'd["state"]' FINISHED ||
    fail "not FINISHED: $(json "$REST/jobs/$jid" 'd["state"]')"
grep -q "restored from checkpoint" "$T"/w*.err || fail "no task restored from a checkpoint"
fetch_objects s3://lake/eo "$T/eo.rows"
same_rows "$T/ref4.rows" "$T/eo.rows" "committed objects after 2 worker kills vs an uninterrupted run"
grep -qE "^PUT /ckpt/eo/$jid/chk-[0-9]+/_metadata 200" "$S3_REQUEST_LOG" ||
    fail "no checkpoint _metadata in s3://ckpt"
grep -qE "^PUT /ckpt/eo/$jid/chk-[0-9]+/out/[01]\.mdb" "$S3_REQUEST_LOG" || fail "no sink snapshot in s3://ckpt"
grep -q ' 403$' "$S3_REQUEST_LOG" && fail "the S3 server refused a signature"
# restore() checks each recorded part (HEAD): 200 = committed before the kill, 404 = it
# committed the dead attempt's upload itself
found=$(grep -c '^HEAD /lake/eo/.* 200$' "$S3_REQUEST_LOG" || true)
late=$(grep -c '^HEAD /lake/eo/.* 404$' "$S3_REQUEST_LOG" || true)
pass "exactly once to s3://lake/eo through 2 worker kills: $(wc -l <"$T/eo.rows") rows in $(wc -l <"$T/eo.rows.keys") objects, equal to an uninterrupted run (restores found $found parts committed, committed $late)"

# ---- 3. at least once: parts roll and commit at every checkpoint, attempts never collide ----
# A stateless job (at least once, window counts could include replayed rows) with a worker
# killed after a checkpoint: the committed rows, repeats aside, are exactly those of an
# uninterrupted run: none missing - a restored attempt numbers its parts from 0 again, so
# without a per-attempt tag in the names it would replace the parts committed before.
alo() { # alo PATH CHECKPOINT_DIR RATE
    cat <<JOB
{"name": "alo-to-lake", "parallelism": 2,
 "checkpoints": {"interval": "1s", "dir": "$2", "mode": "at_least_once"},
 "restart": {"strategy": "fixed_delay", "attempts": 10, "delay": "300ms"},
 "operators": [
  {"id": "clicks", "type": "source.datagen", "generator": "clickstream", "seed": 12,
   "count": 60000, "rate": $3, "parallelism": 1, "ts_step": "100ms",
   "event_time": {"field": "ts", "max_out_of_orderness": "5s"}},
  {"id": "valid", "type": "filter", "where": "duration_ms > 100"},
  {"id": "out", "type": "sink.file", "path": "$1", "partition_by": "year=%Y/month=%m/day=%d/hour=%H"}
]}
JOB
}
alo "$T/ref5" unused 0 >"$T/ref5.json"
"$CFCTL" local --port 0 "$T/ref5.json" >"$T/ref5.out" 2>&1 || fail "alo reference"
local_rows "$T/ref5" "$T/ref5.rows"
alo "s3://lake/alo" "s3://ckpt/alo" 7000 >"$T/alo.json"
"$CFCTL" -m "$REST" run "$T/alo.json" >"$T/run2.out" 2>&1 || fail "run: $(cat "$T/run2.out")"
jid=$(grep -o 'JobID [0-9a-f]*' "$T/run2.out" | cut -d' ' -f2)
wait_for 20 bash -c "grep -q 'job $jid: checkpoint [2-9] complete' '$T/coord.err'" || fail "alo: no checkpoint 2"
sleep "0.$((RANDOM % 9 + 1))"
kill -9 "${W[1]}"; start_worker w9 2; W[1]=$WORKER_PID
wait_for 20 grep -q "job $jid: restarting (attempt 2)" "$T/coord.err" || fail "alo: no restart"
wait_for 90 field_is "$REST/jobs/$jid" 'd["state"]' FINISHED || fail "alo: not FINISHED"
fetch_objects s3://lake/alo "$T/alo.rows"
LC_ALL=C sort -u "$T/alo.rows" >"$T/alo.unique"
same_rows "$T/ref5.rows" "$T/alo.unique" "at least once, repeats removed"
pass "at least once to s3://lake/alo through a worker kill: all $(wc -l <"$T/ref5.rows") rows committed ($(wc -l <"$T/alo.rows") with repeats, if any)"
