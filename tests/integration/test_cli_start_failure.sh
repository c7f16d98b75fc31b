#!/usr/bin/env bash
# A run that cannot journal its start leaves nothing behind: no run folder, the lock released,
# so `resume` still finds the older unfinished run. A run folder whose journal never got its
# run_started line (a crash in that instant) is skipped by `resume` the same way. The journal
# write is made to fail with a file size limit (ulimit -f, SIGXFSZ ignored). No server needed.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
RB=$T/runbook.yaml
cat >"$RB" <<YAML
version: 1
name: start-failure
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Step one
    run: [sh, -c, "echo one >> $T/log"]
  - name: Step two
    run: [sh, -c, "echo two >> $T/log; test -f $T/two-ok"]
YAML

# Run A fails at step two and can be resumed.
rc=0; "$RB_BIN" -f "$RB" execute --reason "first" --yes >"$T/out1" 2>&1 || rc=$?
assert_eq "1" "$rc" "run A fails at step two"
run_a=$(ls "$T/state/runs")

# Run B cannot write its run_started line (its reason alone is larger than the 1 KiB limit).
long=$(head -c 1500 /dev/zero | tr '\0' r)
rc=0
( trap '' XFSZ; ulimit -f 1; exec "$RB_BIN" -f "$RB" execute --reason "$long" --yes ) >"$T/out2" 2>&1 || rc=$?
assert_eq "1" "$rc" "execute fails when the journal cannot be written"
assert_contains "$(cat "$T/out2")" "unable to append to journal"
assert_eq "$run_a" "$(ls "$T/state/runs")" "the failed start left no run folder"
assert_eq "0" "$(stat -c %s "$T/state/lock")" "the lock was released (its record emptied)"
assert_eq "one two " "$(tr '\n' ' ' <"$T/log")" "run B applied nothing"

# A run folder whose journal is empty (killed between creating it and its first line).
mkdir -p "$T/state/runs/29991231T235959999Z-000000"
: >"$T/state/runs/29991231T235959999Z-000000/journal.jsonl"
out=$("$RB_BIN" -f "$RB" status 29991231T235959999Z-000000)
assert_contains "$out" "run 29991231T235959999Z-000000  not started" "status names a run that never started"
out=$("$RB_BIN" -f "$RB" -o json status 29991231T235959999Z-000000)
assert_eq "not started" "$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["outcome"])' "$out")"

# Run A's journal gets a torn last line (a crash in the middle of a write): status says so.
printf '{"seq":99,"ts":"2026-11-25T00:00:00.000Z","run_id":"x","ph' >>"$T/state/runs/$run_a/journal.jsonl"
assert_contains "$("$RB_BIN" -f "$RB" status "$run_a")" "torn by a crash" "status of a torn journal"

touch "$T/two-ok"
"$RB_BIN" -f "$RB" resume >"$T/out3" 2>&1 || { cat "$T/out3"; rb_fail "resume did not find run A"; }
assert_contains "$(cat "$T/out3")" "resuming run $run_a"
assert_eq "one two two " "$(tr '\n' ' ' <"$T/log")" "resume of run A re-ran only step two"
assert_not_contains "$("$RB_BIN" -f "$RB" status "$run_a")" "torn by a crash" "resume cut the torn line"
echo "ok - a start that cannot be journaled leaves nothing; resume skips runs that never started"
