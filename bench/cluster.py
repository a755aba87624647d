#!/usr/bin/env python3
"""Runs a job once on a running 1-coordinator/1-worker cluster, timed as a whole.

usage: cluster.py CFCTL REST_URL COORD_PID WORKER_PID JOB.json PARALLELISM

Submits JOB.json with `cfctl -m REST_URL run -p PARALLELISM` (without --wait, which polls
every 500 ms) and polls GET /jobs/<id> every 10 ms until the job ends. Prints
"wall cpu rss_kb": the wall time from the submission to FINISHED, the CPU time (user +
sys) the coordinator and the worker used meanwhile, and the sum of their peak RSS during
the run (VmHWM, reset before the submission through /proc/PID/clear_refs). Exits 1 if the
job does not finish.
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")
TERMINAL = {"FINISHED", "FAILED", "CANCELED", "SUSPENDED"}


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    cfctl, url, job, par = sys.argv[1], sys.argv[2], sys.argv[5], sys.argv[6]
    pids = [int(sys.argv[3]), int(sys.argv[4])]
    for pid in pids:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
    cpu0 = sum(cpu_seconds(p) for p in pids)
    t0 = time.monotonic()
    out = subprocess.run([cfctl, "-m", url, "run", "-p", par, job], check=True,
                         capture_output=True, text=True).stdout
    jid = out.split("JobID ")[1].split()[0]
    state = None
    while state not in TERMINAL:
        time.sleep(0.01)
        with urllib.request.urlopen("%s/jobs/%s" % (url, jid), timeout=10) as r:
            state = json.load(r)["state"]
    wall = time.monotonic() - t0
    cpu = sum(cpu_seconds(p) for p in pids) - cpu0
    rss = sum(peak_rss_kb(p) for p in pids)
    if state != "FINISHED":
        sys.exit("cluster.py: job %s ended %s" % (jid, state))
    print("%.3f %.2f %d" % (wall, cpu, rss))


if __name__ == "__main__":
    main()
