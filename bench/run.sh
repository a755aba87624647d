#!/usr/bin/env bash
# make bench: runs each benchmark query with the engine (cfctl local at -p 1 and -p 2) and
# with the hand-written single-thread baseline (bench/baseline/) on the same input, checks
# that the outputs are identical, prints a table and writes bench/results/latest.json.
# Each figure is the best of BENCH_RUNS runs (default 5) of a whole process, timed with
# /usr/bin/time (wall time, CPU time, peak RSS).
#
# Two suites (BENCH_ONLY=clickstream|nexmark runs one; latest.json then holds only its rows):
#  - clickstream: 3M generated JSON lines read by source.file, windowed aggregations; also
#    on a cluster (engine "cluster"): one cf-coordinator and one cf-worker with 2 slots,
#    each job submitted with `cfctl run` and timed from submission to FINISHED, with the CPU
#    time and peak RSS of both processes (bench/cluster.py). The input is read into the page
#    cache before every run (the baseline's too), so no figure measures the disk;
#  - nexmark: NEXMARK_EVENTS (default 10M) events of source.datagen's nexmark generator
#    through the jobs of bench/nexmark/ (q0 q1 q2 q5 q7 q11 q14); the baseline generates the
#    same events by linking the generator (bench/baseline/nexmark.c). Outputs are compared
#    as line multisets (count + order-independent hash); q0, q1 and q14 end in
#    sink.blackhole as in Flink's Nexmark, so their row counts are compared, and q1's and
#    q14's rows are compared on separate 1M-event runs written to files. Then the latency
#    rows: a q1-like job at a fixed rate (NEXMARK_LATENCY_RATE, default 200000 events/s,
#    for NEXMARK_LATENCY_SECONDS, default 10) into sink.print, read by
#    bench/nexmark/latency.c.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
runs=${BENCH_RUNS:-5}
work=${BENCH_DIR:-build/bench}
only=${BENCH_ONLY:-}
nx_events=${NEXMARK_EVENTS:-10000000}
lat_rate=${NEXMARK_LATENCY_RATE:-200000}
lat_seconds=${NEXMARK_LATENCY_SECONDS:-10}
mkdir -p "$work" bench/results
# --port 0: the REST API of each run on a free port, so runs never collide with a server
# (or another cfctl local) on 8081.
cfctl=(bin/cfctl local --port 0)
: >"$work/rows.txt"
: >"$work/latency.txt"

# time_process CMD...: runs CMD once under /usr/bin/time (stdout to cmd.out, stderr to
# cmd.err); prints "wall cpu rss_kb".
time_process() {
    /usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" "$@" >"$work/cmd.out" 2>"$work/cmd.err" ||
        return 1
    read -r wall user sys rss <"$work/time.txt"
    echo "$wall $(echo "$user + $sys" | bc) $rss"
}

# The cluster rows run on one cf-coordinator and one cf-worker with 2 slots, started once for
# the clickstream suite (ephemeral ports, state under $work/cluster) and stopped at exit.
cluster_pids=()
cluster_stop() {
    for pid in "${cluster_pids[@]}"; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    done
    cluster_pids=()
}
trap cluster_stop EXIT
cluster_start() {
    local dir=$work/cluster
    rm -rf "$dir"
    mkdir -p "$dir"
    bin/cf-coordinator --rest-port 0 --rpc-port 0 --data-dir "$dir/coord" 2>"$dir/coord.err" &
    coord_pid=$!
    cluster_pids+=("$coord_pid")
    for _ in $(seq 100); do
        grep -q 'REST API on' "$dir/coord.err" && break
        sleep 0.05
    done
    rest=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir/coord.err" | head -1) ||
        { cat "$dir/coord.err" >&2; echo "bench: the coordinator did not start" >&2; exit 1; }
    local rpc
    rpc=$(grep -o 'RPC on [0-9.:]*' "$dir/coord.err" | head -1 | cut -d' ' -f3)
    bin/cf-worker --coordinator "$rpc" --slots 2 --data-port 0 --rpc-port 0 \
        --data-dir "$dir/worker" 2>"$dir/worker.err" &
    worker_pid=$!
    cluster_pids+=("$worker_pid")
    for _ in $(seq 100); do
        [ "$(curl -s "$rest/overview" | python3 -c 'import json,sys; print(json.load(sys.stdin)["slots-total"])' 2>/dev/null)" = 2 ] && return
        sleep 0.1
    done
    cat "$dir/worker.err" >&2
    echo "bench: the worker did not register" >&2
    exit 1
}

# time_cluster JOB P: runs JOB once on the cluster at parallelism P (bench/cluster.py: submit
# to FINISHED); prints "wall cpu rss_kb" (coordinator and worker together).
time_cluster() {
    python3 bench/cluster.py bin/cfctl "$rest" "$coord_pid" "$worker_pid" "$1" "$2" \
        2>"$work/cmd.err"
}

# measure TIMER ARGS...: best wall time of $runs runs of `TIMER ARGS` (time_process or
# time_cluster); prints "wall cpu rss_kb". $before, if set, runs (untimed) before each run:
# removing the previous run's output, reading the input into the page cache.
before=
measure() {
    local best="" line
    for _ in $(seq "$runs"); do
        if [ -n "$before" ]; then
            sh -c "$before"
        fi
        line=$("$@") || { cat "$work/cmd.err" >&2; echo "bench: command failed: $*" >&2; exit 1; }
        if [ -z "$best" ] || [ "$(echo "${line%% *} < ${best%% *}" | bc)" = 1 ]; then
            best=$line
        fi
    done
    echo "$best"
}

# rows.txt: name engine parallelism events input_bytes("-": none) wall cpu rss_kb
if [ -z "$only" ] || [ "$only" = clickstream ]; then
    cc -O2 -Wall -Wextra -o "$work/clickstream-baseline" bench/baseline/clickstream.c
    data=$work/clickstream-data
    if [ ! -f "$data/.complete" ]; then
        echo "bench: generating 3M clickstream events into $data"
        rm -rf "$data"
        sed "s#DATA#$data#" bench/jobs/gen-clickstream.json >"$work/gen.json"
        "${cfctl[@]}" -q "$work/gen.json"
        touch "$data/.complete"
    fi
    events=3000000
    bytes=$(cat "$data"/part-* | wc -c)
    cluster_start
    # Every run, the baseline's too, starts with the input in the page cache, so none of them
    # measures the disk.
    warm="cat '$data'/part-* >/dev/null"
    for q in by-type-country by-user; do
        echo "bench: clickstream-$q"
        before=$warm
        base=$(measure time_process "$work/clickstream-baseline" "$q" \
            "$data/$(ls "$data" | grep part- | head -1)")
        cp "$work/cmd.out" "$work/baseline-$q.out"
        python3 tests/pipeline/lib/canon.py "$work/baseline-$q.out" >"$work/baseline-$q.canon"
        echo "clickstream-$q baseline 1 $events $bytes $base" >>"$work/rows.txt"
        # -p 1 and -p 2 runs alternate, so a slow spell of the machine (a noisy neighbour on a
        # VM) falls on both rows alike and the scaling ratio compares like with like.
        for engine in cfctl-local cluster; do
            declare -A best=()
            for _ in $(seq "$runs"); do
                for p in 1 2; do
                    out=$work/out-$q-$engine-p$p
                    sed "s#DATA#$data#; s#OUT#$out#" "bench/jobs/clickstream-$q.json" \
                        >"$work/job-$q-p$p.json"
                    rm -rf "$out"
                    sh -c "$warm"
                    if [ "$engine" = cluster ]; then
                        line=$(time_cluster "$work/job-$q-p$p.json" "$p")
                    else
                        line=$(time_process "${cfctl[@]}" -q -p "$p" "$work/job-$q-p$p.json")
                    fi || { cat "$work/cmd.err" >&2; echo "bench: $engine -p $p failed" >&2; exit 1; }
                    if [ -z "${best[$p]:-}" ] || [ "$(echo "${line%% *} < ${best[$p]%% *}" | bc)" = 1 ]; then
                        best[$p]=$line
                    fi
                done
            done
            for p in 1 2; do
                out=$work/out-$q-$engine-p$p
                python3 tests/pipeline/lib/canon.py "$out" >"$work/engine-$q-$engine-p$p.canon"
                if ! cmp -s "$work/baseline-$q.canon" "$work/engine-$q-$engine-p$p.canon"; then
                    echo "bench: clickstream-$q ($engine) at -p $p differs from the baseline" >&2
                    exit 1
                fi
                echo "clickstream-$q $engine $p $events $bytes ${best[$p]}" >>"$work/rows.txt"
            done
            unset best
        done
    done
    before=
    cluster_stop
fi

if [ -z "$only" ] || [ "$only" = nexmark ]; then
    # The baseline links the generator from the library `make all` built.
    nxbase=$work/nexmark-baseline
    cc -O2 -Wall -Wextra -I. -o "$nxbase" bench/baseline/nexmark.c build/libcreekflow.a \
        -lcjson -llmdb -lprotobuf-c -lgrpc -lgpr -levent_pthreads -levent -lcurl -lpthread -lm
    cc -O2 -Wall -Wextra -o "$work/latency" bench/nexmark/latency.c
    # nexmark_job Q COUNT OUT: the job spec with its placeholders filled in.
    nexmark_job() {
        sed "s#COUNT#$2#; s#OUT#$3#" "bench/nexmark/$1.json" >"$work/nexmark-$1.json"
    }
    # records_out: the "N records out" of cfctl's final line (the rows the sinks took).
    records_out() {
        sed -n 's/.* \([0-9]*\) records out.*/\1/p' "$work/cmd.err" | tail -1
    }
    for q in q0 q1 q2 q5 q7 q11 q14; do
        echo "bench: nexmark-$q ($nx_events events)"
        before=
        base=$(measure time_process "$nxbase" "$q" "$nx_events")
        echo "nexmark-$q baseline 1 $nx_events - $base" >>"$work/rows.txt"
        case $q in
        q0 | q1 | q14) want=$(head -1 "$work/cmd.out") ;;
        *) want=$("$nxbase" digest "$work/cmd.out") ;;
        esac
        for p in 1 2; do
            out=$work/nexmark-out-$q-p$p
            nexmark_job "$q" "$nx_events" "$out"
            before="rm -rf '$out'"
            r=$(measure time_process "${cfctl[@]}" -p "$p" "$work/nexmark-$q.json")
            case $q in
            q0 | q1 | q14) got=$(records_out) ;;
            *) got=$("$nxbase" digest "$out") ;;
            esac
            if [ "$got" != "$want" ]; then
                echo "bench: nexmark-$q at -p $p: engine '$got', baseline '$want'" >&2
                exit 1
            fi
            rm -rf "$out"
            echo "nexmark-$q cfctl-local $p $nx_events - $r" >>"$work/rows.txt"
        done
    done
    before=

    # The rows of the jobs that end in sink.blackhole, written to files instead, against
    # the baseline's on 1M events.
    check=1000000
    for q in q1 q14; do
        want=$("$nxbase" "$q" "$check" --rows | "$nxbase" digest /dev/stdin)
        for p in 1 2; do
            out=$work/nexmark-out-$q-check-p$p
            rm -rf "$out"
            sed "s#COUNT#$check#; s#\"type\": \"sink.blackhole\"#\"type\": \"sink.file\", \"path\": \"$out\"#" \
                "bench/nexmark/$q.json" >"$work/nexmark-$q-check.json"
            "${cfctl[@]}" -q -p "$p" "$work/nexmark-$q-check.json" 2>/dev/null
            got=$("$nxbase" digest "$out")
            if [ "$got" != "$want" ]; then
                echo "bench: nexmark-$q rows at -p $p: engine '$got', baseline '$want'" >&2
                exit 1
            fi
            rm -rf "$out"
        done
        echo "bench: nexmark-$q rows identical to the baseline's ($check events, -p 1 and -p 2)"
    done

    # Latency at a fixed rate below capacity: -p 1 is one chained task (source, filter,
    # select and sink in one thread); -p 2 runs two source subtasks feeding the single sink
    # subtask through an exchange.
    for p in 1 2; do
        echo "bench: nexmark-latency -p $p ($lat_rate events/s for $lat_seconds s)"
        sed "s#COUNT#$((lat_rate * lat_seconds))#; s#RATE#$lat_rate#" bench/nexmark/latency.json \
            >"$work/nexmark-latency.json"
        l=$("${cfctl[@]}" -q -p "$p" "$work/nexmark-latency.json" 2>/dev/null | "$work/latency" 1000)
        echo "nexmark-latency $p $lat_rate $l" >>"$work/latency.txt"
    done
fi

python3 - "$(nproc)" "$work/rows.txt" "$work/latency.txt" <<'PY'
import json, sys, platform, datetime
cores = int(sys.argv[1])
rows, base = [], {}
for line in open(sys.argv[2]):
    name, engine, p, events, nbytes, wall, cpu, rss = line.split()
    events, wall, cpu, rss = int(events), float(wall), float(cpu), int(rss)
    r = {"name": name, "engine": engine, "parallelism": int(p), "events": events,
         "wall_s": wall, "cpu_s": cpu, "events_per_s": events / wall,
         "events_per_cpu_s": events / cpu if cpu else None,
         "input_bytes": int(nbytes) if nbytes != "-" else None,
         "input_mb_per_s": int(nbytes) / wall / 1e6 if nbytes != "-" else None,
         "peak_rss_mb": rss / 1024}
    if engine == "baseline":
        base[name] = r["events_per_s"]
    r["ratio_to_baseline"] = r["events_per_s"] / base[name]
    rows.append(r)
print("%-34s %-12s %3s %12s %14s %9s %9s %8s" % ("name", "engine", "p", "events/s",
      "events/cpu-s", "MB/s", "RSS MB", "ratio"))
for r in rows:
    mbs = "%9.1f" % r["input_mb_per_s"] if r["input_mb_per_s"] is not None else "%9s" % "-"
    print("%-34s %-12s %3d %12.0f %14.0f %s %9.1f %8.2f" % (r["name"], r["engine"],
          r["parallelism"], r["events_per_s"], r["events_per_cpu_s"] or 0, mbs,
          r["peak_rss_mb"], r["ratio_to_baseline"]))
latency = []
for line in open(sys.argv[3]):
    f = line.split()
    kv = dict(zip(f[3::2], f[4::2]))
    latency.append({"name": f[0], "engine": "cfctl-local", "parallelism": int(f[1]),
                    "rate_events_per_s": int(f[2]), "rows": int(kv["rows"]),
                    "p50_us": int(kv["p50_us"]), "p99_us": int(kv["p99_us"]),
                    "p999_us": int(kv["p999_us"]), "max_us": int(kv["max_us"])})
if latency:
    print()
    print("%-34s %-12s %3s %12s %9s %9s %9s %9s %9s" % ("name", "engine", "p", "events/s",
          "rows", "p50 ms", "p99 ms", "p99.9 ms", "max ms"))
    for l in latency:
        print("%-34s %-12s %3d %12d %9d %9.3f %9.3f %9.3f %9.3f" % (l["name"], l["engine"],
              l["parallelism"], l["rate_events_per_s"], l["rows"], l["p50_us"] / 1e3,
              l["p99_us"] / 1e3, l["p999_us"] / 1e3, l["max_us"] / 1e3))
cpu = ""
try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except (OSError, StopIteration):
    pass
out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z"),
       "machine": {"cores": cores, "cpu": cpu, "platform": platform.platform()},
       "rows": rows, "latency": latency}
json.dump(out, open("bench/results/latest.json", "w"), indent=1)
print("wrote bench/results/latest.json")
PY
