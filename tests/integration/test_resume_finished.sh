#!/usr/bin/env bash
# test_resume_finished: a run killed after its run_finished line (before the process could exit 0)
# has reached its end. `resume` must say so and exit 0 without doing anything: no step applied
# again, no line added to the journal, status still succeeded; with or without the RUN_ID. A
# wrapper that resumes until exit 0 (tests/crash/) would otherwise never stop. The journal of a
# run that finished is the same whether its process then exited or was killed, so the run is
# simply executed to its end here. A run stopped before it began (an empty folder or journal) is
# named, with the hint to execute again. No server is needed.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
RB=$T/runbook.yaml
cat >"$RB" <<YAML
version: 1
name: resume-finished
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Step one
    run: [sh, -c, "echo one >> $T/log"]
YAML

assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "finished" --yes
run=$(ls "$T/state/runs")
journal=$T/state/runs/$run/journal.jsonl
before=$(md5sum <"$journal")

assert_exit 0 "$RB_BIN" -f "$RB" resume
assert_contains "$RB_ERR$RB_OUT" "run $run of 'resume-finished' already finished (succeeded); nothing to resume"
assert_exit 0 "$RB_BIN" -f "$RB" resume "$run"
assert_contains "$RB_ERR$RB_OUT" "already finished (succeeded)"
assert_exit 0 "$RB_BIN" -f "$RB" -o json resume
assert_eq "succeeded $run" "$(/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["outcome"], d["run_id"])' <<<"$RB_OUT")" \
  "resume -o json: one document, the run succeeded"
assert_eq "one" "$(cat "$T/log")" "the step was not applied again"
assert_eq "$before" "$(md5sum <"$journal")" "nothing journaled by the resumes"
"$RB_BIN" -f "$RB" -o json status >"$T/status.json"
assert_eq "succeeded" "$(rb_jget "$T/status.json" 'd["outcome"]')" "status: succeeded"

# a failed run is still resumed, and a declined one is still refused (exit 1): only success is an end
cat >>"$RB" <<YAML
  - name: Step two
    run: [test, -f, $T/go]
YAML
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "fails" --yes
assert_exit 1 "$RB_BIN" -f "$RB" resume
assert_contains "$RB_ERR" "restore step 'Step two' failed"
touch "$T/go"
assert_exit 0 "$RB_BIN" -f "$RB" resume
assert_exit 0 "$RB_BIN" -f "$RB" resume
assert_contains "$RB_ERR$RB_OUT" "already finished (succeeded)"
assert_eq "one one" "$(tr '\n' ' ' <"$T/log" | sed 's/ $//')" "each run applied step one once"

# execute stopped before its run began (its folder made, its journal empty or not yet created):
# none of it happened, and resume says to execute again rather than only "nothing to resume"
N=$(rb_tmpdir)
sed "s|state_dir: $T/state|state_dir: $N/state|" "$RB" >"$N/runbook.yaml"
mkdir -p "$N/state/runs/20261201T000000Z-aaaaaa" "$N/state/runs/20261201T000001Z-bbbbbb"
: >"$N/state/runs/20261201T000001Z-bbbbbb/journal.jsonl"
assert_exit 1 "$RB_BIN" -f "$N/runbook.yaml" resume
assert_contains "$RB_ERR" "no unfinished run to resume in '$N/state': run '20261201T000001Z-bbbbbb' was stopped before it began, so none of it happened"
assert_contains "$RB_ERR" "start the rollback again: 'rollbackctl execute --reason ...'"
rm "$N/state/runs/20261201T000001Z-bbbbbb/journal.jsonl"
assert_exit 1 "$RB_BIN" -f "$N/runbook.yaml" resume
assert_contains "$RB_ERR" "run '20261201T000001Z-bbbbbb' was stopped before it began"
assert_eq "" "$(ls "$N/state/runs/20261201T000001Z-bbbbbb")" "resume made nothing in the run that never began"
rb_ok "resume of a run that already succeeded: exit 0, nothing done; of one that never began: exit 1, execute again"
