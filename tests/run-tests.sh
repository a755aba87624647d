#!/usr/bin/env bash
# Runs test executables (cmocka binaries or shell scripts), prints one line per test file,
# appends "<suite>: N passed, N failed" to build/test-results, and exits 1 on any failure.
# Usage: tests/run-tests.sh SUITE FILE...
set -u
suite=$1; shift
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$top/build/test-logs"
pass=0; fail=0; failed=()
for t in "$@"; do
    name=$(basename "$t")
    log="$top/build/test-logs/$suite-${SANITIZER:-plain}-$name.log"
    start=$(date +%s)
    if "$t" >"$log" 2>&1; then
        pass=$((pass + 1)); status=ok
    else
        fail=$((fail + 1)); status=FAIL; failed+=("$name")
    fi
    printf '  %-4s %-10s %-44s %3ss\n' "$status" "$suite" "$name" "$(( $(date +%s) - start ))"
    if [ "$status" = FAIL ]; then
        # the failure's own message first: the log's tail is mostly process logs
        grep -m3 '^FAIL' "$log" | sed 's/^/      | /'
        sed 's/^/      | /' "$log" | tail -40
    fi
done
label="$suite${SANITIZER:+($SANITIZER)}"
echo "$label: $pass passed, $fail failed" >> "$top/build/test-results"
echo "$label: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
