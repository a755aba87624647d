#!/usr/bin/env bash
# make bench: runs each benchmark query with the engine (cfctl local at -p 1 and -p 2) and
# with the hand-written single-thread baseline (bench/baseline/) on the same input, checks
# that the outputs are identical, prints a table and writes bench/results/latest.json.
# Each figure is the best of BENCH_RUNS runs (default 3) of a whole process, timed with
# /usr/bin/time (wall time, CPU time, peak RSS).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
runs=${BENCH_RUNS:-3}
work=${BENCH_DIR:-build/bench}
mkdir -p "$work" bench/results
cc -O2 -Wall -Wextra -o "$work/clickstream-baseline" bench/baseline/clickstream.c

data=$work/clickstream-data
if [ ! -f "$data/.complete" ]; then
    echo "bench: generating 3M clickstream events into $data"
    rm -rf "$data"
    sed "s#DATA#$data#" bench/jobs/gen-clickstream.json >"$work/gen.json"
    bin/cfctl local -q "$work/gen.json"
    touch "$data/.complete"
fi
events=3000000
bytes=$(cat "$data"/part-* | wc -c)

# measure NAME CMD...: best wall time of $runs runs; prints "wall cpu rss_kb".
measure() {
    local best="" line
    for _ in $(seq "$runs"); do
        /usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" "$@" >"$work/cmd.out" 2>"$work/cmd.err" ||
            { cat "$work/cmd.err" >&2; echo "bench: command failed: $*" >&2; exit 1; }
        read -r wall user sys rss <"$work/time.txt"
        line="$wall $(echo "$user + $sys" | bc) $rss"
        if [ -z "$best" ] || [ "$(echo "$wall < ${best%% *}" | bc)" = 1 ]; then
            best=$line
        fi
    done
    echo "$best"
}

rows=()
for q in by-type-country by-user; do
    base=$(measure "$work/clickstream-baseline" "$q" "$data/$(ls "$data" | grep part- | head -1)")
    cp "$work/cmd.out" "$work/baseline-$q.out"
    python3 tests/pipeline/lib/canon.py "$work/baseline-$q.out" >"$work/baseline-$q.canon"
    rows+=("clickstream-$q baseline 1 $base")
    for p in 1 2; do
        out=$work/out-$q-p$p
        sed "s#DATA#$data#; s#OUT#$out#" "bench/jobs/clickstream-$q.json" >"$work/job-$q.json"
        r=$(measure sh -c "rm -rf '$out' && bin/cfctl local -q -p $p '$work/job-$q.json'")
        python3 tests/pipeline/lib/canon.py "$out" >"$work/engine-$q-p$p.canon"
        if ! cmp -s "$work/baseline-$q.canon" "$work/engine-$q-p$p.canon"; then
            echo "bench: clickstream-$q at -p $p differs from the baseline" >&2
            exit 1
        fi
        rows+=("clickstream-$q cfctl-local $p $r")
    done
done

printf '%s\n' "${rows[@]}" >"$work/rows.txt"
python3 - "$events" "$bytes" "$(nproc)" "$work/rows.txt" <<'PY'
import json, sys, platform, datetime
events, nbytes, cores = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rows, base = [], {}
for line in open(sys.argv[4]):
    name, engine, p, wall, cpu, rss = line.split()
    wall, cpu, rss = float(wall), float(cpu), int(rss)
    r = {"name": name, "engine": engine, "parallelism": int(p), "events": events,
         "wall_s": wall, "cpu_s": cpu, "events_per_s": events / wall,
         "events_per_cpu_s": events / cpu if cpu else None,
         "input_mb_per_s": nbytes / wall / 1e6, "peak_rss_mb": rss / 1024}
    if engine == "baseline":
        base[name] = r["events_per_s"]
    r["ratio_to_baseline"] = r["events_per_s"] / base[name]
    rows.append(r)
print("%-34s %-12s %3s %12s %14s %9s %9s %8s" % ("name", "engine", "p", "events/s",
      "events/cpu-s", "MB/s", "RSS MB", "ratio"))
for r in rows:
    print("%-34s %-12s %3d %12.0f %14.0f %9.1f %9.1f %8.2f" % (r["name"], r["engine"],
          r["parallelism"], r["events_per_s"], r["events_per_cpu_s"] or 0, r["input_mb_per_s"],
          r["peak_rss_mb"], r["ratio_to_baseline"]))
out = {"date": datetime.datetime.utcnow().isoformat() + "Z", "machine": {"cores": cores,
       "platform": platform.platform()}, "input_bytes": nbytes, "rows": rows}
json.dump(out, open("bench/results/latest.json", "w"), indent=1)
print("wrote bench/results/latest.json")
PY
