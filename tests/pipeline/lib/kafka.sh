# Sourced by the Kafka pipeline tests after common.sh: a cf-kafka-mock per test (librdkafka's
# mock cluster on an ephemeral port, stopped when the test exits) and kcat helpers.
#   kafka_start TOPIC:PARTITIONS...   starts the mock; sets KAFKA (its bootstrap address)
#   kafka_stop                        stops it (SIGTERM) and checks it exited cleanly
#   kafka_produce TOPIC PARTITION FILE [kcat args]   one message per line of FILE
#   kafka_consume TOPIC FORMAT        every message of TOPIC, kcat -f FORMAT, until the end
#   no_sanitizer_report FILE...       fails if a sanitizer wrote a report (a job that fails
#                                     or is canceled exits 1 either way)
# Binaries: cf-kafka-mock next to $CFCTL (sanitizer builds), else the one in bin/.
KAFKA_MOCK=${KAFKA_MOCK:-$(dirname "$CFCTL")/cf-kafka-mock}
[ -x "$KAFKA_MOCK" ] || KAFKA_MOCK=$TOP/bin/cf-kafka-mock
MULT=${CF_TEST_TIMEOUT_MULT:-1}
KAFKA=
KAFKA_PID=

kafka_cleanup() {
    if [ -n "$KAFKA_PID" ]; then
        kill "$KAFKA_PID" 2>/dev/null || true
        wait "$KAFKA_PID" 2>/dev/null || true
        KAFKA_PID=
    fi
}
trap 'kafka_cleanup; rm -rf "$T"' EXIT

kafka_start() {
    local args=()
    for t in "$@"; do args+=(--topic "$t"); done
    : >"$T/kafka.out"
    "$KAFKA_MOCK" --port 0 "${args[@]}" >"$T/kafka.out" 2>"$T/kafka.err" &
    KAFKA_PID=$!
    for ((i = 0; i < 100 * MULT; i++)); do
        [ -s "$T/kafka.out" ] && break
        sleep 0.05
    done
    KAFKA=$(head -1 "$T/kafka.out")
    [ -n "$KAFKA" ] || { cat "$T/kafka.err" >&2; fail "cf-kafka-mock did not start"; }
}

kafka_stop() {
    kill "$KAFKA_PID"
    local rc=0
    wait "$KAFKA_PID" || rc=$?
    KAFKA_PID=
    [ "$rc" -eq 0 ] || { cat "$T/kafka.err" >&2; fail "cf-kafka-mock exited $rc on SIGTERM"; }
}

kafka_produce() {
    local topic=$1 part=$2 file=$3
    shift 3
    kcat -b "$KAFKA" -P -t "$topic" -p "$part" -l "$file" "$@" ||
        fail "kcat could not produce $file to $topic/$part"
}

kafka_consume() {
    kcat -b "$KAFKA" -C -t "$1" -e -q -f "$2" -X isolation.level=read_uncommitted ||
        fail "kcat could not read $1"
}

no_sanitizer_report() {
    if grep -l "Sanitizer\|runtime error:" "$@" 2>/dev/null; then
        grep -h -A20 "Sanitizer\|runtime error:" "$@" | head -40 >&2
        fail "sanitizer report"
    fi
}
