#!/usr/bin/env bash
# CSV in (header, quotes, empty vs NULL, bad rows to errors) and CSV out; part files roll by
# size and every row is in exactly one committed part.
source "$(dirname "$0")/lib/common.sh"
mkdir -p "$T/in"
{
    echo 'id,name,score,when,ok'
    echo '1,"Smith, Jane",12.5,2024-10-22T18:00:00Z,true'
    echo '2,"say ""hi""",,1729620000000,0'
    echo '3,,7,2024-10-22T18:00:01.5Z,'
    echo '4,"",8,not-a-time,true'
    echo 'x,bad id,1,2024-10-22T18:00:00Z,true'
} >"$T/in/a.csv"
cat >"$T/job.json" <<JOB
{"name": "csv", "operators": [
  {"id": "rows", "type": "source.file", "path": "$T/in/*.csv", "format": "csv", "header": true,
   "schema": {"id": "int", "name": "string", "score": "double", "when": "timestamp", "ok": "bool"}},
  {"id": "out", "type": "sink.file", "path": "$T/out", "format": "csv"},
  {"id": "bad", "type": "sink.file", "input": "rows.errors", "path": "$T/bad"}
]}
JOB
expect_exit 0 "$CFCTL" local "$T/job.json"
cat >"$T/want.csv" <<'CSV'
id,name,score,when,ok
1,"Smith, Jane",12.5,2024-10-22T18:00:00.000Z,true
2,"say ""hi""",,2024-10-22T18:00:00.000Z,false
3,,7.0,2024-10-22T18:00:01.500Z,
CSV
same_lines "$T/want.csv" "$(ls "$T"/out/part-*)" "csv output"
[ "$(cat "$T"/bad/part-* | wc -l)" -eq 2 ] || fail "expected 2 bad rows"
grep -q 'not-a-time' "$T"/bad/part-* || fail "bad timestamp row missing"
grep -q 'bad id' "$T"/bad/part-* || fail "bad int row missing"

# Rolling: 50k rows with 64 KB parts give many parts; together they hold every row once.
printf '{"name": "roll", "operators": [{"id": "g", "type": "source.datagen", "count": 50000}, {"id": "o", "type": "sink.file", "path": "%s", "rolling": {"max_size": "64KB"}}]}' "$T/roll" >"$T/roll.json"
expect_exit 0 "$CFCTL" local "$T/roll.json"
parts=$(ls "$T/roll" | wc -l)
[ "$parts" -gt 50 ] || fail "only $parts part files"
[ -z "$(ls -A "$T/roll" | grep '^\.')" ] || fail "in-progress files left"
[ "$(python3 "$LIB/canon.py" --field event_id "$T/roll" | sort -u | wc -l)" -eq 50000 ] || fail "rows lost"
[ "$(cat "$T"/roll/* | wc -l)" -eq 50000 ] || fail "rows duplicated"
for f in "$T"/roll/*; do
    [ "$(stat -c %s "$f")" -lt $((64 * 1024 + 4096)) ] || fail "part $f exceeds the size limit"
done
pass "csv and rolling ($parts parts)"

# Rolling by time: a slow source (400 rows/s for ~2.5 s) with a 1 s interval gives several
# parts, each complete.
printf '{"name": "roll-t", "operators": [{"id": "g", "type": "source.datagen", "count": 1000, "rate": 400}, {"id": "o", "type": "sink.file", "path": "%s", "rolling": {"interval": "1s"}}]}' "$T/rollt" >"$T/rollt.json"
expect_exit 0 "$CFCTL" local "$T/rollt.json"
tparts=$(ls "$T/rollt" | wc -l)
[ "$tparts" -ge 2 ] || fail "interval rolling gave $tparts parts"
[ "$(cat "$T"/rollt/* | wc -l)" -eq 1000 ] || fail "interval rolling lost rows"
pass "rolling by interval ($tparts parts)"
