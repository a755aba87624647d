#!/usr/bin/env bash
# The generated reference matches the code, and every example spec validates and runs.
source "$(dirname "$0")/lib/common.sh"
"$CFCTL" docs >"$T/ref.md"
same_lines "$TOP/docs/reference-operators.md" "$T/ref.md" "docs/reference-operators.md is stale (run: bin/cfctl docs > docs/reference-operators.md)"
cd "$TOP"
for job in examples/*.json; do
    expect_exit 0 "$CFCTL" validate "$job"
done
work=$T/examples
mkdir -p "$work"
for job in examples/*.json; do
    # Run each example with its outputs redirected into the scratch directory.
    sed "s#\"out/#\"$work/#g" "$job" >"$work/$(basename "$job")"
    expect_exit 0 "$CFCTL" local -q "$work/$(basename "$job")"
done
[ -n "$(find "$work/query-analytics/success-rate-1m" -name 'part-*')" ] || fail "no success-rate output"
pass "reference in sync; $(ls examples/*.json | wc -l) examples run"
