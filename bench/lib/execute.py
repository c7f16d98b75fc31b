#!/usr/bin/env python3
"""bench/lib/execute.py BINARY RUNBOOK RUNS_DIR ARGS...: run `BINARY -f RUNBOOK ARGS...` as the
benchmarks do, and print "EXIT_CODE PEAK_RSS_KB WALL_MS RUN_ID" on one line.

When the run waits for a second person's approval (its `status -o json` says "waiting"), a second
person approves it (SUDO_USER=bench-approver, as scripts/rehearse does), once. Peak RSS is the
child's ru_maxrss from wait4() (GNU time is not installed), of that process alone. RUN_ID is the
run folder the command made under RUNS_DIR ("-" when it made none). The child's stderr goes to
$RB_BENCH_ERR (default /dev/null); it is killed after 30 minutes.
"""
import json
import os
import subprocess
import sys
import time


def main():
    binary, runbook, runs = sys.argv[1:4]

    def listing():
        return set(os.listdir(runs)) if os.path.isdir(runs) else set()

    before = listing()
    err = open(os.environ.get("RB_BENCH_ERR", "/dev/null"), "w")
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "-f", runbook] + sys.argv[4:], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=err)
    approved, deadline, run = False, t0 + 1800, "-"
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            break
        new = listing() - before
        if new:
            run = sorted(new)[-1]
        if not approved and new:
            st = subprocess.run([binary, "-f", runbook, "-o", "json", "status", run],
                                capture_output=True, text=True)
            try:
                waiting = json.loads(st.stdout).get("waiting") is not None
            except ValueError:
                waiting = False
            if waiting:
                subprocess.run([binary, "-f", runbook, "approve", run, "--comment",
                                "bench: second person"],
                               env=dict(os.environ, SUDO_USER="bench-approver"), capture_output=True)
                approved = True
        if time.monotonic() > deadline:
            p.kill()
        time.sleep(0.05)
    wall_ms = int((time.monotonic() - t0) * 1000)
    new = listing() - before
    if new:
        run = sorted(new)[-1]
    print(os.waitstatus_to_exitcode(status), ru.ru_maxrss, wall_ms, run)


main()
