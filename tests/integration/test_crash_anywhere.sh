#!/usr/bin/env bash
# test_crash_anywhere: the whole rehearsal rollback (assess, approve, freeze, sync, restore,
# verify, communicate) SIGKILLed at random instants and resumed to its end leaves the world an
# uninterrupted run leaves: legacy's tables byte-equal, the ledger, DNS, the stand-in's replicas,
# CronJobs and Jobs, each message at least once under one Message-ID / Idempotency-Key, status
# succeeded, the journal's chain valid. tests/crash/crash_anywhere.py does the work (see there and
# docs/testing.md, "Crash anywhere"), in a sandbox of its own made by tests/crash/run; its
# self-check (a cent changed in legacy, a wrong DNS expectation) must be caught too.
# RB_CRASH_TRIALS trials (default 20; bench/soak/run is the long run) on a sandbox of 500
# employees (RB_CRASH_EMPLOYEES; the rehearsal's 5,000 make each run longer through the same
# actions): a trial takes 4-7 s on an idle 2-core machine, the whole test
# about 2.5 minutes (CI stays under 15). The seed is printed; RB_CRASH_SEED replays one.
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
command -v dig >/dev/null || rb_skip "dig is not installed (scripts/install-deps)"
command -v nsupdate >/dev/null || rb_skip "nsupdate is not installed (scripts/install-deps)"

T=$(rb_tmpdir)
trials=${RB_CRASH_TRIALS:-20}
rc=0
env -u RB_CRASH_SANDBOX RB_BUILD_DIR="$RB_BUILD_DIR" RB_SANDBOX_EMPLOYEES="${RB_CRASH_EMPLOYEES:-500}" \
  "$RB_SOURCE_DIR/tests/crash/run" \
  --trials "$trials" --keep-failed "$T/failed" >"$T/out" 2>&1 || rc=$?
cat "$T/out"
summary=$(grep '^crash-anywhere: seed .* trials, ' "$T/out" || true)
assert_contains "$summary" " $trials trials, " "the harness ran every trial"
assert_contains "$summary" ", 0 failed, " "no trial ended in another state than the reference run"
kills=$(sed -n 's/.* trials, \([0-9]*\) kills, .*/\1/p' <<<"$summary")
# an instant is drawn in [0, D] of the reference run's length D: one late in it can fall after
# the end of a faster run, which then is simply not killed; with 2 trials or more, none landing
# at all would mean the kills do not reach the runs
((kills >= 1)) && rb_ok "$kills kills landed in $trials trials" || rb_fail "no kill landed in $trials trials"
assert_contains "$(cat "$T/out")" "self-check passed" "the harness catches a real difference"
assert_eq 0 "$rc" "tests/crash/run exit code"
