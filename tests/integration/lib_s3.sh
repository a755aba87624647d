#!/usr/bin/env bash
# Sourced by tests that need an S3 server: a local @20minutes/s3rver (tests/lib/s3rver.js)
# on 127.0.0.1 with an ephemeral port, checking SigV4 signatures.
#
#   source "$(dirname "$0")/lib.sh"      # optional: gives $T and the PIDS cleanup
#   source "$(dirname "$0")/lib_s3.sh"
#   start_s3 bucket1 [bucket2...]        # creates the buckets, waits until it listens
#
# start_s3 exports what the object store client reads - CF_S3_ENDPOINT and CF_GCS_ENDPOINT
# (the same server answers gs:// too), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (a random
# secret per server), AWS_REGION - and sets S3_ENDPOINT (http://127.0.0.1:PORT) and S3_PID.
# The server's PID is added to PIDS when lib.sh's cleanup is in use; otherwise call stop_s3.
# Either way the server exits by itself when the test's shell goes away.
# Its data lives in $T/s3-data (or a temp dir), its stderr in $T/s3.err, and every request
# it answers is logged to $S3_REQUEST_LOG ("<METHOD> <path?query> <status>" lines).
# Run directly (tests/integration/lib_s3.sh bucket...) it starts a server in the foreground
# for manual use and prints the exports.

S3_LIB_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

start_s3() {
    command -v node >/dev/null || { echo "start_s3: node is not installed" >&2; return 1; }
    local dir=${T:-$(mktemp -d "${TMPDIR:-/tmp}/cf-s3.XXXXXX")}
    local log="$dir/s3.out" args=() b
    for b in "$@"; do args+=(--bucket "$b"); done
    export AWS_ACCESS_KEY_ID=cf-test-key
    export AWS_SECRET_ACCESS_KEY="cf-test-secret-$RANDOM$RANDOM"
    export AWS_REGION=${AWS_REGION:-us-east-1}
    unset AWS_SESSION_TOKEN CF_GCS_ACCESS_KEY_ID CF_GCS_SECRET_ACCESS_KEY
    S3RVER_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID S3RVER_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
        node --openssl-legacy-provider "$S3_LIB_TOP/tests/lib/s3rver.js" --dir "$dir/s3-data" --port 0 --log "$dir/s3-requests.log" "${args[@]}" \
        >"$log" 2>"$dir/s3.err" &
    S3_PID=$!
    S3_REQUEST_LOG=$dir/s3-requests.log # read by the tests
    export S3_REQUEST_LOG
    if declare -p PIDS >/dev/null 2>&1; then PIDS+=("$S3_PID"); fi
    local _
    # Up to 30 s: node takes seconds to start on a loaded machine (10 s once ran out).
    for _ in $(seq 600); do
        grep -q 'listening on' "$log" 2>/dev/null && break
        kill -0 "$S3_PID" 2>/dev/null || break
        sleep 0.05
    done
    S3_ENDPOINT=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1)
    if [ -z "$S3_ENDPOINT" ]; then
        echo "start_s3: the S3 server did not start:" >&2
        cat "$dir/s3.err" >&2
        return 1
    fi
    export CF_S3_ENDPOINT=$S3_ENDPOINT CF_GCS_ENDPOINT=$S3_ENDPOINT
}

# build_objstore_tool: builds tests/integration/objstore_tool.c (list/get/put through the
# object store client) against the library of the build flavour $BIN belongs to, into
# ${T:-/tmp}/objstore_tool, and prints its path.
build_objstore_tool() {
    local san=${SANITIZER:-}
    if [ -z "$san" ]; then
        case "${BIN:-}" in */build-address/bin) san=address ;; */build-undefined/bin) san=undefined ;; esac
    fi
    local vars cc ldflags lib ldlibs out=${T:-/tmp}/objstore_tool
    vars=$(cd "$S3_LIB_TOP" && make -s --no-print-directory SANITIZER="$san" -f Makefile -f - cf-print-vars <<'MK'
cf-print-vars: ; @echo '$(CC)|$(LDFLAGS)|$(abspath $(LIB))|$(LDLIBS)'
MK
) || { echo "build_objstore_tool: cannot read the build variables" >&2; return 1; }
    IFS='|' read -r cc ldflags lib ldlibs <<<"$vars"
    [ -f "$lib" ] || { echo "build_objstore_tool: $lib is missing: build first (make)" >&2; return 1; }
    # shellcheck disable=SC2086 # flag lists
    $cc -std=c11 -D_GNU_SOURCE -pthread -g -O1 -Wall -Wextra -Werror -I"$S3_LIB_TOP" $ldflags -o "$out" \
        "$S3_LIB_TOP/tests/integration/objstore_tool.c" "$lib" $ldlibs >&2 || return 1
    echo "$out"
}

stop_s3() {
    [ -n "${S3_PID:-}" ] && kill "$S3_PID" 2>/dev/null && wait "$S3_PID" 2>/dev/null
    S3_PID=
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -eu
    T=$(mktemp -d "${TMPDIR:-/tmp}/cf-s3.XXXXXX")
    trap 'stop_s3; rm -rf "$T"' EXIT
    start_s3 "$@"
    echo "export CF_S3_ENDPOINT=$CF_S3_ENDPOINT CF_GCS_ENDPOINT=$CF_GCS_ENDPOINT AWS_REGION=$AWS_REGION"
    echo "export AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY"
    echo "(Ctrl-C stops the server)"
    wait "$S3_PID"
fi
