#!/usr/bin/env bash
# cfctl usage errors exit 2 with a message; help exits 0.
source "$(dirname "$0")/lib/common.sh"
expect_exit 2 "$CFCTL"
expect_exit 2 "$CFCTL" frobnicate
grep -qF "unknown command 'frobnicate'" "$T/stderr" || fail "unknown command"
expect_exit 2 "$CFCTL" local
expect_exit 2 "$CFCTL" local -p 0 x.json
grep -qF -- "-p needs an integer between 1 and 4096, got '0'" "$T/stderr" || fail "-p 0"
expect_exit 2 "$CFCTL" local -p abc x.json
expect_exit 2 "$CFCTL" local --bogus x.json
grep -qF "unknown option '--bogus'" "$T/stderr" || fail "unknown option"
expect_exit 0 "$CFCTL" --help
grep -qF "usage: cfctl" "$T/stdout" || fail "help text"
expect_exit 2 "$CFCTL" run job.json
grep -qF "cannot read job spec" "$T/stderr" || fail "run of a missing spec"
pass "cfctl usage"
