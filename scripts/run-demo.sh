#!/usr/bin/env bash
# `make run`: runs the example jobs on the embedded local cluster and shows their output.
set -eu
cd "$(dirname "$0")/.."
CFCTL=${CFCTL:-bin/cfctl}
echo "== examples/quickstart.json: generated clickstream -> filter -> select -> print"
"$CFCTL" local examples/quickstart.json
echo
echo "== examples/events-by-type.json: events routed by type into partitioned files"
rm -rf out/events-by-type out/events-by-type-errors
"$CFCTL" local examples/events-by-type.json
echo "files written:"
find out/events-by-type -type f | sort | sed 's/^/  /' | head -12
echo "  ... ($(find out/events-by-type -type f | wc -l) part files)"
echo "first rows of one partition:"
head -n 3 "$(find out/events-by-type -type f | sort | head -1)" | sed 's/^/  /'
echo "bad records (events.errors):"
cat out/events-by-type-errors/*/part-* out/events-by-type-errors/part-* 2>/dev/null | sed 's/^/  /'
echo
echo "== examples/clickstream-filter.json: 200k generated events, filtered and reshaped"
rm -rf out/clickstream-purchases
"$CFCTL" local examples/clickstream-filter.json
echo "rows written: $(cat out/clickstream-purchases/*/*/part-* | wc -l)"
head -n 2 "$(find out/clickstream-purchases -type f -name 'part-*' | sort | head -1)" | sed 's/^/  /'

echo
echo "== examples/query-analytics.json: several keyed event-time windows over one stream"
rm -rf out/query-analytics
"$CFCTL" local examples/query-analytics.json
echo "success rate per user type and minute (first rows):"
cat out/query-analytics/success-rate-1m/part-* | head -n 4 | sed 's/^/  /'
