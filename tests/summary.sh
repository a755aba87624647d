#!/usr/bin/env bash
# Prints the suites' results and the grand total as "N passed, N failed".
top=$(cd "$(dirname "$0")/.." && pwd)
f="$top/build/test-results"
[ -f "$f" ] || { echo "no test results"; exit 1; }
cat "$f"
awk -F': ' '{ split($2, a, /[ ,]+/); p += a[1]; x += a[3] } END { printf "total: %d passed, %d failed\n", p, x; exit (x > 0 || p == 0) }' "$f"
