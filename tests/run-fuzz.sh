#!/usr/bin/env bash
# Runs each libFuzzer binary for SECONDS on its seed corpus (tests/fuzz/corpus/<name>/,
# copied so the repo is not modified). A crash fails the run and keeps the reproducer in
# build-fuzz/crashes/.
set -u
secs=$1; shift
top=$(cd "$(dirname "$0")/.." && pwd)
pass=0; fail=0
mkdir -p "$top/build-fuzz/crashes"
for f in "$@"; do
    name=$(basename "$f")
    work="$top/build-fuzz/corpus-$name"
    mkdir -p "$work"
    [ -d "$top/tests/fuzz/corpus/$name" ] && cp -n "$top/tests/fuzz/corpus/$name"/* "$work/" 2>/dev/null
    log="$top/build-fuzz/$name.log"
    if "$f" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=4096 \
        -artifact_prefix="$top/build-fuzz/crashes/$name-" "$work" >"$log" 2>&1; then
        pass=$((pass + 1))
        printf '  ok   fuzz       %-44s %s\n' "$name" "$(grep -o 'Done [0-9]* runs' "$log" | tail -1)"
    else
        fail=$((fail + 1))
        printf '  FAIL fuzz       %s\n' "$name"; tail -30 "$log" | sed 's/^/      | /'
    fi
done
echo "fuzz: $pass passed, $fail failed" >> "$top/build/test-results"
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
