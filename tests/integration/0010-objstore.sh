#!/usr/bin/env bash
# The object store client (common/objstore) against a real S3 server: a local s3rver that
# checks SigV4 signatures (tests/integration/lib_s3.sh). Driven through objstore_tool, a small
# program built here against the library, one process per operation: put/get/exists/delete
# with exact contents, keys that need encoding, sorted listings across pages, a prefix that is
# a directory (p never covers p-other), delete_prefix, put_file above the part size as a
# multipart upload, a streaming upload prepared in one process and committed in another
# (idempotently), abort and discard, gs:// on the same server, wrong credentials (a clear
# error naming the variable, never the secret), the server down (a clear error after the
# retries, within seconds), several threads at once, and 64 MiB up and down (MiB/s printed).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_s3.sh"
MULT=${CF_TEST_TIMEOUT_MULT:-1}

# ---- build the driver against the library of this build flavour ----
X=$(build_objstore_tool 2>"$T/tool-build.err") || fail "cannot build objstore_tool: $(cat "$T/tool-build.err")"
pass "objstore_tool built"

start_s3 bk gbk || fail "S3 server did not start"
pass "s3rver on $S3_ENDPOINT"

# expect_eq WHAT ACTUAL EXPECTED
expect_eq() { [ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"; }

# ---- objects ----
printf 'hello, object' | "$X" put s3://bk/dir/hello.txt || fail "put"
expect_eq "get" "$("$X" get s3://bk/dir/hello.txt)" "hello, object"
expect_eq "exists" "$("$X" exists s3://bk/dir/hello.txt)" 1
expect_eq "exists absent" "$("$X" exists s3://bk/dir/nope)" 0
rc=0; "$X" get s3://bk/dir/nope 2>"$T/err" || rc=$?
expect_eq "get absent: exit status (3 = CF_ENOENT)" "$rc" 3
grep -q 's3://bk/dir/nope: no such object' "$T/err" || fail "absent message: $(cat "$T/err")"
printf 'second version' | "$X" put s3://bk/dir/hello.txt || fail "overwrite"
expect_eq "overwritten" "$("$X" get s3://bk/dir/hello.txt)" "second version"
: | "$X" put s3://bk/dir/empty || fail "empty put"
[ "$("$X" get s3://bk/dir/empty | wc -c)" -eq 0 ] || fail "empty object has content"
key='s3://bk/odd/a key+with=chars%20;,!@$()~.bin'
head -c 3000 /dev/urandom >"$T/rand"
"$X" put "$key" <"$T/rand" || fail "put of an odd key"
"$X" get "$key" >"$T/rand.back" && cmp -s "$T/rand" "$T/rand.back" || fail "odd key round trip"
expect_eq "odd key listed" "$("$X" list s3://bk/odd)" "$key 3000"
"$X" delete "$key" || fail "delete"
expect_eq "deleted" "$("$X" exists "$key")" 0
"$X" delete "$key" || fail "deleting an absent object must succeed"
head -c 100000 /dev/urandom >"$T/small"
"$X" put-file s3://bk/files/small "$T/small" || fail "put-file small"
"$X" get-file s3://bk/files/small "$T/out/sub/small" || fail "get-file (creates parents)"
cmp -s "$T/small" "$T/out/sub/small" || fail "get-file content"
rc=0; "$X" get-file s3://bk/files/nope "$T/out/nope" 2>/dev/null || rc=$?
expect_eq "get-file absent" "$rc" 3
[ ! -e "$T/out/nope" ] || fail "failed get-file left a file"
pass "put/get/exists/delete, odd keys, put-file/get-file with exact contents"

# ---- listing: sorted, a prefix is a directory, pages ----
for k in p/b p/a/2 p/a/1 p/a-x p/c p-other/x pp/y; do printf '%s' "$k" | "$X" put "s3://bk/list/$k" || fail "put $k"; done
want="s3://bk/list/p/a-x 5
s3://bk/list/p/a/1 5
s3://bk/list/p/a/2 5
s3://bk/list/p/b 3
s3://bk/list/p/c 3"
expect_eq "list p" "$("$X" list s3://bk/list/p)" "$want"
expect_eq "list p/ (trailing slash)" "$("$X" list s3://bk/list/p/)" "$want"
# Pages of 2 keys. (Keys whose order s3rver gets wrong, like p/a-x before p/a/1, would be
# skipped by its start-after paging: real S3 lists in byte order, s3rver walks directories.)
for k in q/k1 q/k2 q/sub/k3 q/sub/k4 q/z5; do printf '%s' "$k" | "$X" put "s3://bk/list/$k" || fail "put $k"; done
expect_eq "list across pages of 2" "$(CF_OBJ_LIST_PAGE=2 "$X" list s3://bk/list/q)" "s3://bk/list/q/k1 4
s3://bk/list/q/k2 4
s3://bk/list/q/sub/k3 8
s3://bk/list/q/sub/k4 8
s3://bk/list/q/z5 4"
grep -q 'continuation-token=' "$S3_REQUEST_LOG" || fail "paged listing sent no continuation token"
expect_eq "list absent prefix" "$("$X" list s3://bk/list/none)" ""
expect_eq "whole bucket count" "$("$X" list s3://bk | grep -c '^s3://bk/list/')" 12
"$X" delete-prefix s3://bk/list/p && "$X" delete-prefix s3://bk/list/q || fail "delete-prefix"
expect_eq "after delete-prefix" "$("$X" list s3://bk/list)" "s3://bk/list/p-other/x 9
s3://bk/list/pp/y 4"
"$X" delete-prefix s3://bk/list/none || fail "delete-prefix of nothing"
pass "list sorted across pages, prefix = directory, delete-prefix"

# ---- multipart: put_file above the part size ----
part=1048576
head -c $((5 * part + 12345)) /dev/urandom >"$T/big"
: >"$S3_REQUEST_LOG"
CF_OBJ_PART_SIZE=$part "$X" put-file s3://bk/big/file "$T/big" || fail "multipart put-file"
grep -q '^POST /bk/big/file?uploads= 200' "$S3_REQUEST_LOG" || fail "no multipart upload started"
expect_eq "parts uploaded" "$(grep -c '^PUT /bk/big/file?partNumber=[0-9]*&uploadId=[0-9a-f]* 200' "$S3_REQUEST_LOG")" 6
grep -q '^POST /bk/big/file?uploadId=[0-9a-f]* 200' "$S3_REQUEST_LOG" || fail "no CompleteMultipartUpload"
"$X" get-file s3://bk/big/file "$T/big.back" && cmp -s "$T/big" "$T/big.back" || fail "multipart content"
expect_eq "multipart size" "$("$X" list s3://bk/big)" "s3://bk/big/file $((5 * part + 12345))"
pass "put-file of 5 MiB + 12345 B with 1 MiB parts: 6 parts, exact content"

# ---- two-phase upload: prepare here, commit in another process ----
head -c $((2 * part + 777)) /dev/urandom >"$T/stream"
token=$(CF_OBJ_PART_SIZE=$part "$X" prepare s3://bk/sink/part-0 <"$T/stream") || fail "prepare"
case "$token" in "cfup1 s3://bk/sink/part-0 $((2 * part + 777)) "*) ;; *) fail "token: $token" ;; esac
expect_eq "token parts" "$(wc -w <<<"$token")" $((4 + 3))
grep -qF "$AWS_SECRET_ACCESS_KEY" <<<"$token" && fail "token holds the secret"
grep -qF "$AWS_ACCESS_KEY_ID" <<<"$token" && fail "token holds the access key"
expect_eq "invisible before commit" "$("$X" exists s3://bk/sink/part-0)" 0
"$X" commit "$token" || fail "commit from another process"
"$X" get s3://bk/sink/part-0 >"$T/stream.back" && cmp -s "$T/stream" "$T/stream.back" || fail "committed content"
"$X" commit "$token" 2>"$T/err" || fail "second commit must succeed (idempotent): $(cat "$T/err")"
cmp -s "$T/stream" <("$X" get s3://bk/sink/part-0) || fail "content after the second commit"
token=$(: | "$X" prepare s3://bk/sink/empty) && "$X" commit "$token" || fail "empty upload"
expect_eq "empty upload listed" "$("$X" list s3://bk/sink)" "s3://bk/sink/empty 0
s3://bk/sink/part-0 $((2 * part + 777))"
# Abort (s3rver has no AbortMultipartUpload: the client logs that and the object must
# still never appear).
token=$(printf 'abc' | "$X" prepare s3://bk/sink/aborted) || fail "prepare to abort"
"$X" abort "$token" 2>"$T/err" || fail "abort: $(cat "$T/err")"
"$X" abort "$token" || fail "second abort must succeed"
expect_eq "aborted upload invisible" "$("$X" exists s3://bk/sink/aborted)" 0
printf 'xyz' | "$X" discard s3://bk/sink/discarded || fail "discard"
expect_eq "discarded upload invisible" "$("$X" exists s3://bk/sink/discarded)" 0
rc=0; "$X" commit "not a token" 2>"$T/err" || rc=$?
expect_eq "garbage token" "$rc" 1
grep -q 'invalid upload token' "$T/err" || fail "garbage token message: $(cat "$T/err")"
pass "upload prepared in one process, committed in another (twice), abort, discard"

# The same two-phase upload on file://: a temp file renamed by the commit.
token=$(printf 'file data' | "$X" prepare "file://$T/fs/out/part-0") || fail "file prepare"
inprogress=("$T"/fs/out/.part-0.inprogress-*)
[ -f "${inprogress[0]}" ] || fail "no in-progress file"
expect_eq "file invisible before commit" "$("$X" list "file://$T/fs")" ""
"$X" commit "$token" && "$X" commit "$token" || fail "file commit"
expect_eq "file committed" "$(cat "$T/fs/out/part-0")" "file data"
expect_eq "file listed" "$("$X" list "file://$T/fs")" "file://$T/fs/out/part-0 9"
pass "two-phase upload on file://"

# ---- gs:// on the same server ----
printf 'gcs object' | "$X" put gs://gbk/g/one || fail "gs put"
expect_eq "gs get" "$("$X" get gs://gbk/g/one)" "gcs object"
expect_eq "gs list" "$("$X" list gs://gbk/g)" "gs://gbk/g/one 10"
token=$(CF_OBJ_PART_SIZE=$part "$X" prepare gs://gbk/g/two <"$T/stream") && "$X" commit "$token" || fail "gs upload"
cmp -s "$T/stream" <("$X" get gs://gbk/g/two) || fail "gs upload content"
# shellcheck disable=SC2097,SC2098 # the right keys go to CF_GCS_*, a wrong one to AWS_*
expect_eq "gs keys from CF_GCS_*" "$(CF_GCS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID CF_GCS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
    AWS_SECRET_ACCESS_KEY=not-this-one "$X" get gs://gbk/g/one)" "gcs object"
"$X" delete-prefix gs://gbk/g && expect_eq "gs delete-prefix" "$("$X" list gs://gbk)" ""
pass "gs:// put/get/list/upload/delete-prefix, CF_GCS_* keys"

# ---- wrong credentials ----
wrong="wrong-secret-$RANDOM$RANDOM"
rc=0; AWS_SECRET_ACCESS_KEY=$wrong "$X" get s3://bk/dir/hello.txt >/dev/null 2>"$T/err" || rc=$?
expect_eq "wrong secret: exit status" "$rc" 1
grep -q 's3://bk/dir/hello.txt: GET failed: HTTP 403 SignatureDoesNotMatch' "$T/err" || fail "wrong secret message: $(cat "$T/err")"
grep -q 'check AWS_SECRET_ACCESS_KEY' "$T/err" || fail "wrong secret hint: $(cat "$T/err")"
grep -qF "$wrong" "$T/err" && fail "the secret is in the message"
grep -qF "$AWS_SECRET_ACCESS_KEY" "$T/err" && fail "the real secret is in the message"
grep -qiE 'authorization|signature=' "$T/err" && fail "the message shows the signature"
AWS_SECRET_ACCESS_KEY=$wrong "$X" put s3://bk/dir/evil </dev/null 2>/dev/null && fail "put with a wrong secret succeeded"
rc=0; AWS_SECRET_ACCESS_KEY=$wrong "$X" exists s3://bk/dir/hello.txt 2>"$T/err" || rc=$?
expect_eq "exists, wrong secret" "$rc" 1
grep -q 'HTTP 403' "$T/err" || fail "exists with a wrong secret: $(cat "$T/err")"
rc=0; AWS_ACCESS_KEY_ID=nobody-$RANDOM "$X" get s3://bk/dir/hello.txt 2>"$T/err" || rc=$?
expect_eq "unknown key: exit status" "$rc" 1
grep -q 'InvalidAccessKeyId.*check AWS_ACCESS_KEY_ID' "$T/err" || fail "unknown key message: $(cat "$T/err")"
grep -q 'nobody-' "$T/err" && fail "the access key is in the message"
expect_eq "nothing written with bad credentials" "$("$X" exists s3://bk/dir/evil)" 0
pass "wrong secret / unknown key: HTTP 403 naming the variable, no secret in the message"

# ---- several threads at once (one curl handle per thread) ----
# The object "keep" stops s3rver from removing the emptied threads/ directory (it deletes
# empty parent directories after a DELETE, racing with a PUT of another thread below them).
printf k | "$X" put s3://bk/threads/keep || fail "put keep"
"$X" threads s3://bk/threads 8 || fail "8 threads"
expect_eq "threads cleaned up" "$("$X" list s3://bk/threads)" "s3://bk/threads/keep 1"
pass "8 threads put/get/delete concurrently"

# ---- 64 MiB up and down with the default part size ----
head -c $((64 * 1048576)) /dev/urandom >"$T/b64"
t0=$(date +%s%N)
"$X" put-file s3://bk/bench/64m "$T/b64" || fail "64 MiB put-file"
t1=$(date +%s%N)
"$X" get-file s3://bk/bench/64m "$T/b64.back" || fail "64 MiB get-file"
t2=$(date +%s%N)
cmp -s "$T/b64" "$T/b64.back" || fail "64 MiB content"
rm -f "$T/b64" "$T/b64.back"
up=$(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", 64 / (ns / 1e9) }')
down=$(awk -v ns=$((t2 - t1)) 'BEGIN { printf "%.0f", 64 / (ns / 1e9) }')
pass "64 MiB: upload $up MiB/s ($(( (t1 - t0) / 1000000 )) ms, 8 parts), download $down MiB/s ($(( (t2 - t1) / 1000000 )) ms)"

# ---- the server down: a clear error after the retries, within seconds ----
endpoint=$S3_ENDPOINT
stop_s3
start=$(date +%s%N)
rc=0; "$X" get s3://bk/dir/hello.txt 2>"$T/err" || rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "server down: exit status" "$rc" 1
grep -q "s3://bk/dir/hello.txt: cannot reach $endpoint (CF_S3_ENDPOINT): Connection refused (after 5 attempts)" "$T/err" ||
    fail "server down message: $(cat "$T/err")"
[ "$ms" -ge 700 ] || fail "gave up after $ms ms: no backoff between the 5 attempts"
[ "$ms" -le $((5000 * MULT)) ] || fail "took $ms ms to give up"
pass "server down: '$(cat "$T/err")' after $ms ms"
