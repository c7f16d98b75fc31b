#!/usr/bin/env bash
# The engine's promises, through the real CLI: an action journaled as done before a SIGKILL is
# not applied again by resume; a second execute on the same state_dir exits 4 naming the holder;
# status tells a killed run from a running one; SIGTERM stops after the current action (exit 1)
# and resume finishes the run. Restore `run` steps are the actions: each appends to a log file,
# so the log shows exactly what was applied how often. No server is needed.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
RB=$T/runbook.yaml
cat >"$RB" <<YAML
version: 1
name: engine-test
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Step one
    run: [sh, -c, "echo one >> $T/log"]
  - name: Slow step
    run: [sh, -c, "echo \$\$ > $T/two.pid; echo two >> $T/log; touch $T/two-started; s=\$(cat $T/sleep); if [ \$s = handshake ]; then while [ ! -e $T/go ]; do sleep 0.02; done; else sleep \$s; fi; touch $T/two-done"]
    verify: { run: [test, -f, $T/two-done] }
  - name: Step three
    run: [sh, -c, "echo three >> $T/log"]
YAML

wait_for() { local i; for ((i = 0; i < 200; i++)); do [ -e "$1" ] && return 0; sleep 0.05; done; rb_fail "timed out waiting for $1"; }

# 1. SIGKILL during the slow step, a concurrent execute refused, then resume.
echo 30 >"$T/sleep"
"$RB_BIN" -f "$RB" execute --reason "engine test" --yes >"$T/out1" 2>&1 &
pid=$!
wait_for "$T/two-started"
assert_exit 4 "$RB_BIN" -f "$RB" execute --reason "second" --yes
assert_contains "$RB_ERR" "is locked by run"
assert_contains "$RB_ERR" "pid $pid"
assert_eq "1" "$(ls "$T/state/runs" | wc -l | tr -d ' ')" "the refused execute left no run behind"
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
# The step runs in its own process group, which outlives a SIGKILLed rollbackctl: end it too,
# as a crashed machine would have.
kill -9 -- "-$(cat "$T/two.pid")" 2>/dev/null || true

"$RB_BIN" -f "$RB" -o json status >"$T/status.json"
assert_eq "stopped" "$(rb_jget "$T/status.json" 'd["outcome"]')" "status of a killed run"
assert_eq "in flight" "$(rb_jget "$T/status.json" '[a for a in d["actions"] if a["phase"] == "restore"][1]["state"]')" "the slow step was in flight"
assert_eq "done" "$(rb_jget "$T/status.json" '[a for a in d["actions"] if a["phase"] == "restore"][0]["state"]')" "step one was done"

echo 0 >"$T/sleep"
"$RB_BIN" -f "$RB" resume >"$T/out3" 2>&1 || { cat "$T/out3"; rb_fail "resume failed"; }
assert_eq "one two two three " "$(tr '\n' ' ' <"$T/log")" "step one applied once, the in-flight step re-applied, step three once"
assert_contains "$(cat "$T/out3")" "took over the lock"
"$RB_BIN" -f "$RB" -o json status >"$T/status.json"
assert_eq "succeeded" "$(rb_jget "$T/status.json" 'd["outcome"]')" "status after resume"
run_dir=$(ls -d "$T"/state/runs/*)
journal=$run_dir/journal.jsonl
assert_contains "$(cat "$journal")" '"event":"lock_takeover"'
assert_contains "$(cat "$journal")" '"event":"resumed"'
assert_eq "2" "$(grep -c '"action":"restore/step-one"' "$journal" | tr -d ' ')" "step one: started + done, once"
assert_exit 0 "$RB_BIN" -f "$RB" resume   # the run succeeded: nothing to resume, its end again
assert_contains "$RB_ERR" "already finished (succeeded); nothing to resume"

# 2. SIGTERM: the current action finishes, the run stops before the next one, resume finishes it.
rm -f "$T/log" "$T/two-started" "$T/two-done"
# the slow step waits until the test has sent SIGTERM: no sleep decides the order
echo handshake >"$T/sleep"
rm -f "$T/go"
"$RB_BIN" -f "$RB" execute --reason "sigterm test" --yes >"$T/out4" 2>&1 &
pid=$!
wait_for "$T/two-started"
kill -TERM "$pid"
touch "$T/go"
rc=0; wait "$pid" || rc=$?
assert_eq "1" "$rc" "interrupted run exits 1"
assert_eq "one two " "$(tr '\n' ' ' <"$T/log")" "stopped after the current action"
assert_contains "$(cat "$T/out4")" "interrupted before"
"$RB_BIN" -f "$RB" -o json status >"$T/status.json"
assert_eq "interrupted" "$(rb_jget "$T/status.json" 'd["outcome"]')" "status after SIGTERM"
"$RB_BIN" -f "$RB" resume >"$T/out5" 2>&1 || { cat "$T/out5"; rb_fail "resume after SIGTERM failed"; }
assert_eq "one two three " "$(tr '\n' ' ' <"$T/log")" "resume applied only the rest"

# 2b. SIGHUP (the operator's SSH session dropped) is handled the same way.
rm -f "$T/log" "$T/two-started" "$T/two-done" "$T/go"
"$RB_BIN" -f "$RB" execute --reason "sighup test" --yes >"$T/out6" 2>&1 &
pid=$!
wait_for "$T/two-started"
kill -HUP "$pid"
touch "$T/go"
rc=0; wait "$pid" || rc=$?
assert_eq "1" "$rc" "a run sent SIGHUP exits 1"
assert_eq "one two " "$(tr '\n' ' ' <"$T/log")" "SIGHUP: stopped after the current action"
"$RB_BIN" -f "$RB" resume >"$T/out7" 2>&1 || { cat "$T/out7"; rb_fail "resume after SIGHUP failed"; }
assert_eq "one two three " "$(tr '\n' ' ' <"$T/log")" "resume after SIGHUP applied only the rest"

# 3. Usage and confirmation errors.
assert_exit 2 "$RB_BIN" -f "$RB" execute --yes
assert_exit 2 "$RB_BIN" -f "$RB" execute --reason x </dev/null
assert_exit 2 "$RB_BIN" -f "$RB" execute --reason x --severity catastrophic --yes
assert_exit 2 "$RB_BIN" -f "$RB" nosuchcommand
assert_exit 0 "$RB_BIN" -f "$RB" plan --offline
echo "ok - engine: resume after SIGKILL and SIGTERM, lock, status"
