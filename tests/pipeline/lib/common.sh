# Sourced by pipeline tests: paths, a scratch directory, and assertion helpers.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
CFCTL=${CFCTL:-$TOP/bin/cfctl}
LIB=$TOP/tests/pipeline/lib
T=$(mktemp -d "${TMPDIR:-/tmp}/cf-pipeline.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# expect_exit CODE CMD...: runs CMD, captures stdout/stderr into $T/stdout and $T/stderr.
expect_exit() {
    local want=$1; shift
    set +e
    "$@" >"$T/stdout" 2>"$T/stderr"
    local got=$?
    set -e
    [ "$got" -eq "$want" ] || { cat "$T/stderr" >&2; fail "'$*' exited $got, expected $want"; }
}

# same_lines FILE_A FILE_B WHAT: exact comparison, shows the first differences.
same_lines() {
    if ! cmp -s "$1" "$2"; then
        diff "$1" "$2" | head -20 >&2
        fail "$3: $(wc -l <"$1") vs $(wc -l <"$2") lines differ"
    fi
}
