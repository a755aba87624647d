#!/usr/bin/env bash
# Back-pressure: a sink that cannot write (stdout piped to a reader that sleeps) stops the
# source instead of buffering: memory stays bounded, and once the reader drains, every row
# arrives exactly once.
source "$(dirname "$0")/lib/common.sh"
N=1000000
cat >"$T/job.json" <<JOB
{"name": "slow-sink", "operators": [
  {"id": "g", "type": "source.datagen", "count": $N},
  {"id": "f", "type": "filter", "where": "TRUE", "parallelism": 2},
  {"id": "o", "type": "sink.print", "parallelism": 1}
]}
JOB
mkfifo "$T/pipe"
"$CFCTL" local -q "$T/job.json" >"$T/pipe" 2>"$T/stderr" &
pid=$!
exec 3<"$T/pipe"          # open the read end, but read nothing yet
sleep 2
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
kill -0 $pid || fail "job ended while its sink was blocked"
lines=$(wc -l <&3)        # now drain everything
exec 3<&-
wait $pid || fail "job failed: $(cat "$T/stderr")"
echo "RSS while blocked: ${rss_kb} KB; lines: $lines"
[ "$rss_kb" -lt 65536 ] || fail "RSS ${rss_kb} KB while blocked: output is being buffered"
[ "$lines" -eq "$N" ] || fail "$lines lines, expected $N"
pass "bounded memory under back-pressure, nothing lost"
