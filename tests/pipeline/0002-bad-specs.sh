#!/usr/bin/env bash
# Bad specs are rejected before anything runs: exit 2, with the JSON path of each problem.
source "$(dirname "$0")/lib/common.sh"
SRC='{"id": "events", "type": "source.datagen", "count": 10}'

check() { # check 'operators JSON' 'expected message'
    printf '{"name": "bad", "operators": [%s]}' "$1" >"$T/bad.json"
    expect_exit 2 "$CFCTL" validate "$T/bad.json"
    grep -qF -- "$2" "$T/stderr" || { cat "$T/stderr" >&2; fail "no '$2' in the error output"; }
    expect_exit 2 "$CFCTL" local "$T/bad.json"
    grep -qF -- "$2" "$T/stderr" || fail "cfctl local: no '$2'"
}
check "$SRC"', {"id": "f", "type": "filter", "where": "no_such_field > 1"}' \
      "operators[1].where: unknown field 'no_such_field'"
check "$SRC"', {"id": "f", "type": "filter", "where": "user_id > "}' "operators[1].where:"
check "$SRC"', {"id": "f", "type": "filter", "where": "user_id + 1"}' "operators[1].where:"
check "$SRC"', {"id": "f", "type": "filter", "where": "duration_ms"}' \
      "operators[1].where: must be a condition (bool), not int"
check "$SRC"', {"id": "f", "type": "fliter", "where": "TRUE"}' \
      "operators[1].type: unknown operator type 'fliter' (did you mean 'filter'?)"
check "$SRC"', {"id": "f", "type": "filter", "wher": "TRUE"}' \
      "operators[1].wher: unknown key (did you mean 'where'?)"
check "$SRC"', {"id": "f", "type": "filter"}' "operators[1].where: required"
check '{"id": "events", "type": "source.datagen", "rate": "fast"}' "operators[0].rate: must be a number"
check '{"id": "Events", "type": "source.datagen"}' 'operators[0].id: "Events" is not a valid id'
check "$SRC"', {"id": "events", "type": "sink.print"}' 'operators[1].id: "events" is already used by operators[0]'
check "$SRC"', {"id": "p", "type": "sink.print", "input": "nope"}' \
      "operators[1].input: 'nope' is not an operator listed before operators[1]"
check "$SRC"', {"id": "p", "type": "sink.print", "input": "events.late"}' \
      "operators[1].input: 'events' has no side output 'late'"
check '{"id": "f", "type": "filter", "where": "TRUE"}' "operators[0]: the first operator must be a source"
check "$SRC"', {"id": "s", "type": "select", "fields": {"x": "upper(duration_ms)"}}' "operators[1].fields.x:"
check "$SRC"', {"id": "o", "type": "sink.file", "path": "out", "rolling": {"max_size": "lots"}}' \
      'operators[1].rolling.max_size: "lots" is not a size'
check "$SRC"', {"id": "o", "type": "sink.file", "path": "out", "partition_by": "{nope}/%Y"}' \
      "operators[1].partition_by: unknown field 'nope'"
check "$SRC"', {"id": "o", "type": "sink.file", "path": "out", "partition_by": "%Q"}' \
      "operators[1].partition_by: unknown conversion '%Q'"
check '{"id": "events", "type": "source.file", "path": "x", "schema": {"a": "strin"}}' \
      "operators[0].schema.a: unknown type strin"
check '{"id": "events", "type": "source.file", "path": "x", "schema": {"a": "string"}, "event_time": {"field": "a"}}' \
      "operators[0].event_time.field: 'a' is string"
check '{"id": "events", "type": "source.datagen", "event_time": {"field": "ts", "max_out_of_orderness": "5x"}}' \
      'operators[0].event_time.max_out_of_orderness: "5x" is not a duration'
check "$SRC"', {"id": "p", "type": "sink.print", "key_by": ["nope"]}' "operators[1].key_by[0]: unknown field 'nope'"

# Several problems are all reported, one per line.
printf '%s' '{"name": "bad", "parallelism": 0, "operators": [{"id": "a", "type": "source.datagen", "seed": "x"}, {"id": "b", "type": "filter", "where": "nope"}]}' >"$T/multi.json"
expect_exit 2 "$CFCTL" validate "$T/multi.json"
grep -qF '$.parallelism: must be between 1 and 4096' "$T/stderr" || fail "multi: parallelism"
# Top-level problems stop before operators are planned; fix it and see both operator errors.
sed -i 's/"parallelism": 0, //' "$T/multi.json"
expect_exit 2 "$CFCTL" validate "$T/multi.json"
grep -qF 'operators[0].seed: must be a number' "$T/stderr" || fail "multi: seed"

# Not JSON, not an object, no operators, unreadable file.
printf '{"name": "x", "operators": [\n  {"id": "a",, }]}' >"$T/syntax.json"
expect_exit 2 "$CFCTL" validate "$T/syntax.json"
grep -qF '$: invalid JSON at line 2' "$T/stderr" || fail "syntax error position"
printf '[1]' >"$T/arr.json"
expect_exit 2 "$CFCTL" validate "$T/arr.json"
grep -qF 'must be a JSON object' "$T/stderr" || fail "not an object"
printf '{"name": "x", "operators": []}' >"$T/empty.json"
expect_exit 2 "$CFCTL" validate "$T/empty.json"
grep -qF '$.operators: must be a non-empty array' "$T/stderr" || fail "empty operators"
printf '{"operators": [%s], "nmae": "x"}' "$SRC" >"$T/top.json"
expect_exit 2 "$CFCTL" validate "$T/top.json"
grep -qF '$.nmae: unknown key (did you mean' "$T/stderr" || fail "unknown top key"
grep -qF '$.name: required' "$T/stderr" || fail "name required"
expect_exit 2 "$CFCTL" validate "$T/does-not-exist.json"
grep -qF 'cannot read job spec' "$T/stderr" || fail "missing file"
pass "bad specs rejected with their JSON paths"
