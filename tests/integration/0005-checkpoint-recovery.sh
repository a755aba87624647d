#!/usr/bin/env bash
# Exactly-once recovery: a keyed window job writing to the file sink checkpoints every second
# to s3:// on a local S3 server that checks signatures, while workers are killed with -9 at random moments (a replacement registers each time); it
# restarts from the latest completed checkpoint, and the committed output (files without a
# leading dot) equals the output of an uninterrupted `cfctl local` run exactly: nothing lost,
# nothing twice. Then /jobs/:jid/checkpoints shows completed checkpoints and the restore,
# _metadata and snapshot files are in the checkpoint directory, and a corrupted snapshot
# makes recovery fall back to the previous checkpoint.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_s3.sh"
CFCTL=$BIN/cfctl
start_s3 checkpoints || fail "no S3 server"
start_coordinator coord --heartbeat-interval 200ms --heartbeat-timeout 2s
start_workers 2 2

job() { # job OUT_DIR CHECKPOINT_DIR COUNT RATE [RETAIN]
    cat <<JOB
{"name": "exactly-once", "parallelism": 2,
 "checkpoints": {"interval": "1s", "dir": "$2", "retain": ${5:-3}},
 "restart": {"strategy": "fixed_delay", "attempts": 10, "delay": "300ms"},
 "operators": [
  {"id": "clicks", "type": "source.datagen", "generator": "clickstream", "seed": 11,
   "count": $3, "rate": $4, "parallelism": 1,
   "event_time": {"field": "ts", "max_out_of_orderness": "5s"}},
  {"id": "valid", "type": "filter", "where": "duration_ms > 100"},
  {"id": "per-user", "type": "window", "key_by": ["user_id"],
   "window": {"type": "tumbling", "size": "10s"},
   "aggregates": {"n": "count(*)", "ms": "sum(duration_ms)", "pages": "count_distinct(page_url)"}},
  {"id": "out", "type": "sink.file", "path": "$1"}
]}
JOB
}

N=120000
job "$T/ref" "$T/unused" $N 0 >"$T/ref.json"
"$CFCTL" local --port 0 "$T/ref.json" >"$T/ref.out" 2>&1 || fail "reference run: $(tail -3 "$T/ref.out")"
cat "$T"/ref/part-* | sort >"$T/ref.rows"
[ "$(wc -l <"$T/ref.rows")" -gt 1000 ] || fail "reference too small: $(wc -l <"$T/ref.rows") rows"

job "$T/out" "s3://checkpoints/recovery" $N 8000 >"$T/job.json"
"$CFCTL" -m "$REST" run "$T/job.json" >"$T/run.out" 2>&1 || fail "run: $(cat "$T/run.out")"
jid=$(grep -o 'JobID [0-9a-f]*' "$T/run.out" | cut -d' ' -f2)
wait_for 10 field_is "$REST/jobs/$jid" 'd["state"]' RUNNING || fail "not RUNNING"

# Three kills at random moments, each after at least one more checkpoint completed.
next=3
for round in 1 2 3; do
    done_before=$(grep -c "checkpoint [0-9]* complete" "$T/coord.err" || true)
    wait_for 20 bash -c "[ \$(grep -c 'checkpoint [0-9]* complete' '$T/coord.err') -gt $done_before ]" ||
        fail "round $round: no checkpoint completed"
    sleep "0.$((RANDOM % 9 + 1))"
    victim=$((RANDOM % 2 + 1))
    kill -9 "${W[$victim]}" 2>/dev/null || true
    start_worker "w$next" 2; W[$victim]=$WORKER_PID; next=$((next + 1))
    wait_for 20 grep -q "restarting (attempt $((round + 1)))" "$T/coord.err" ||
        fail "round $round: no restart"
done
wait_for 90 field_is "$REST/jobs/$jid" 'd["state"]' FINISHED ||
    fail "not FINISHED: $(json "$REST/jobs/$jid" 'd["state"]')"
grep -q "job=$jid .*restored from checkpoint" "$T"/w*.err || fail "no task restored from a checkpoint"
cat "$T"/out/part-* | sort >"$T/got.rows"
if ! cmp -s "$T/ref.rows" "$T/got.rows"; then
    diff "$T/ref.rows" "$T/got.rows" | head -5 >&2
    fail "committed output differs from the uninterrupted run ($(wc -l <"$T/got.rows") vs $(wc -l <"$T/ref.rows") rows)"
fi
pass "3 worker kills during a checkpointing job: committed output exactly equal ($(wc -l <"$T/got.rows") rows)"

[ "$(json "$REST/jobs/$jid/checkpoints" 'd["counts"]["completed"] > 0')" = True ] ||
    fail "no completed checkpoints reported"
[ "$(json "$REST/jobs/$jid/checkpoints/config" 'd["mode"], d["interval"]')" = "('exactly_once', 1000)" ] ||
    fail "checkpoints/config: $(json "$REST/jobs/$jid/checkpoints/config" 'd')"
grep -q "PUT /checkpoints/recovery/$jid/chk-[0-9]*/_metadata 200" "$S3_REQUEST_LOG" ||
    fail "no _metadata uploaded to the bucket"
grep -q "PUT /checkpoints/recovery/$jid/chk-[0-9]*/per-user/[01].mdb" "$S3_REQUEST_LOG" ||
    fail "no window snapshot uploaded"
grep -q "GET /checkpoints/recovery/$jid/chk-[0-9]*/per-user/[01].mdb 200" "$S3_REQUEST_LOG" ||
    fail "no snapshot downloaded on restore"
! grep -q " 403$" "$S3_REQUEST_LOG" || fail "the S3 server refused a signature"
# Aborted checkpoints' late uploads are swept once more when the job ends.
kept() { find "$T/s3-data/checkpoints/recovery/$jid" -maxdepth 1 -name 'chk-*' | wc -l; }
wait_for 10 bash -c "[ \$(find '$T/s3-data/checkpoints/recovery/$jid' -maxdepth 1 -name 'chk-*' | wc -l) -le 3 ]" ||
    fail "$(kept) checkpoints kept in the bucket (retain=3)"
[ "$(kept)" -ge 1 ] || fail "no checkpoint kept in the bucket"
pass "checkpoint REST endpoints, _metadata and snapshot files, retention"

# A corrupted snapshot: the restore detects it by checksum. With older checkpoints retained
# recovery falls back to the one before it, once (every subtask reports the corruption);
# with none left the job fails instead of starting over and repeating committed output.
corrupt_latest() { # corrupt_latest JID DIR MIN: when MIN checkpoints are kept, corrupts the
    # latest and kills a worker
    wait_for 20 bash -c "[ \$(ls '$2/$1'/chk-*/_metadata 2>/dev/null | wc -l) -ge $3 ]" || fail "job $1: no checkpoints"
    kill -STOP "$COORD_PID" # no newer checkpoint while we corrupt this one
    # the newest completed one (a directory without _metadata is still being written)
    latest=$(dirname "$(ls "$2/$1"/chk-*/_metadata | sort -t- -k2 -n | tail -1)")
    for f in "$latest"/per-user/*.mdb; do printf 'garbage' | dd of="$f" bs=1 seek=100 conv=notrunc 2>/dev/null; done
    kill -CONT "$COORD_PID"
    kill -9 "${W[1]}"; start_worker "w$next" 2; W[1]=$WORKER_PID; next=$((next + 1))
    bad_id=${latest##*/chk-}
}
job "$T/out2" "file://$T/chk2" 1000000 3000 >"$T/job2.json"
"$CFCTL" -m "$REST" run "$T/job2.json" >"$T/run2.out" 2>&1 || fail "run 2"
jid2=$(grep -o 'JobID [0-9a-f]*' "$T/run2.out" | cut -d' ' -f2)
corrupt_latest "$jid2" "$T/chk2" 2
restored_older() {
    grep -ho "job=$jid2 .*restored from checkpoint [0-9]*" "$T"/w*.err | awk -v bad="$bad_id" '$NF < bad {found = 1} END {exit !found}'
}
wait_for 30 restored_older || fail "job 2 was not restored from a checkpoint older than $bad_id"
[ "$(grep -c "job $jid2: checkpoint [0-9]* is corrupt; falling back" "$T/coord.err")" -eq 1 ] ||
    fail "fell back more than once: $(grep "job $jid2.*corrupt" "$T/coord.err")"
wait_for 10 field_is "$REST/jobs/$jid2" 'd["state"]' RUNNING || fail "job 2 not RUNNING after the fallback"
"$CFCTL" -m "$REST" cancel "$jid2" >/dev/null 2>&1 || true
pass "corrupt snapshot detected by checksum; recovery fell back once, to checkpoint < $bad_id"

job "$T/out3" "file://$T/chk3" 1000000 3000 1 >"$T/job3.json"
"$CFCTL" -m "$REST" run "$T/job3.json" >"$T/run3.out" 2>&1 || fail "run 3"
jid3=$(grep -o 'JobID [0-9a-f]*' "$T/run3.out" | cut -d' ' -f2)
# two completed checkpoints (not "checkpoint 2": a checkpoint may be declined while the
# tasks start, and the ids go on from there)
wait_for 20 bash -c "[ \$(grep -c 'job $jid3: checkpoint [0-9]* complete' '$T/coord.err') -ge 2 ]" ||
    fail "job 3: fewer than two checkpoints completed: $(grep "job $jid3: checkpoint" "$T/coord.err" | tail -3)"
corrupt_latest "$jid3" "$T/chk3" 1
wait_for 30 field_is "$REST/jobs/$jid3" 'd["state"]' FAILED || fail "job 3 should fail with no intact checkpoint"
grep -q "job $jid3: restarting (attempt 3)" "$T/coord.err" && fail "job 3 restarted after its corrupt restore"
json "$REST/jobs/$jid3/exceptions" 'd["exceptionHistory"]["entries"][0]["stacktrace"]' | grep -q "corrupt checkpoint $bad_id" ||
    fail "job 3 exception does not name the corrupt checkpoint"
pass "no intact checkpoint left (retain 1): the job fails naming the corrupt checkpoint"
