#!/usr/bin/env bash
# Mistakes an operator makes in a hurry, and what rollbackctl answers (issue 10): a mistyped
# command gets "did you mean" (the loader's suggestion, as for runbook keys) and exit 2; a
# runbook that is not there says where rollbackctl looked (-f, $ROLLBACKCTL_RUNBOOK or
# ./runbook.yaml) and exits 5 without sending the operator to `validate` (which would fail the
# same way); `status RUN_ID` of a run that does not exist says so and lists the latest runs,
# newest first. No server is needed.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
RB=$T/runbook.yaml
cat >"$RB" <<YAML
version: 1
name: feedback
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Nothing
    run: ["true"]
YAML

# --- did you mean -------------------------------------------------------------------------------
assert_exit 2 "$RB_BIN" -f "$RB" validte
assert_contains "$RB_ERR" "unknown command 'validte'; did you mean 'validate'?"
assert_contains "$RB_ERR" "HINT: 'rollbackctl validate --help' says what it does"
assert_exit 2 "$RB_BIN" -f "$RB" stauts
assert_contains "$RB_ERR" "did you mean 'status'?"
assert_exit 2 "$RB_BIN" -f "$RB" frobnicate
assert_contains "$RB_ERR" "unknown command 'frobnicate'"
assert_not_contains "$RB_ERR" "did you mean" "nothing close: no guess"
assert_contains "$RB_ERR" "'rollbackctl --help' lists the commands"

# --- a runbook that is not there ----------------------------------------------------------------
cd "$T"
assert_exit 5 "$RB_BIN" -f "$T/nope.yaml" status
assert_contains "$RB_ERR" "no runbook '$T/nope.yaml' (from -f)"
assert_contains "$RB_ERR" "HINT: check the path given with -f"
assert_not_contains "$RB_ERR" "validate" "no circular hint to run validate"
assert_exit 5 env ROLLBACKCTL_RUNBOOK="$T/env.yaml" "$RB_BIN" execute --reason x --yes
assert_contains "$RB_ERR" "no runbook '$T/env.yaml' (from \$ROLLBACKCTL_RUNBOOK)"
assert_not_contains "$RB_ERR" "validate"
# -f wins over the variable, and its path is the one named
assert_exit 5 env ROLLBACKCTL_RUNBOOK="$RB" "$RB_BIN" -f "$T/nope.yaml" plan --offline
assert_contains "$RB_ERR" "(from -f)"
mkdir "$T/empty"
cd "$T/empty"
assert_exit 5 env -u ROLLBACKCTL_RUNBOOK "$RB_BIN" status
assert_contains "$RB_ERR" "no runbook: none given with -f, \$ROLLBACKCTL_RUNBOOK is not set, and there is no './runbook.yaml'"
assert_contains "$RB_ERR" "HINT: give the runbook with -f FILE, or set ROLLBACKCTL_RUNBOOK"
assert_not_contains "$RB_ERR" "validate"
assert_exit 5 env -u ROLLBACKCTL_RUNBOOK "$RB_BIN" validate
assert_contains "$RB_ERR" "there is no './runbook.yaml'" "validate says where it looked too"
assert_exit 5 env -u ROLLBACKCTL_RUNBOOK "$RB_BIN" -o json validate
assert_eq false "$(jq .valid "$RB_OUT_FILE")" "validate -o json: the document says invalid"
cp "$RB" "$T/empty/runbook.yaml"
assert_exit 0 env -u ROLLBACKCTL_RUNBOOK "$RB_BIN" validate
cd "$T"

# --- status of a run that does not exist ----------------------------------------------------------
assert_exit 1 "$RB_BIN" -f "$RB" status 20250101T000000000Z-000000
assert_contains "$RB_ERR" "no run '20250101T000000000Z-000000' in '$T/state'"
assert_contains "$RB_ERR" "HINT: there are no runs there yet"
for i in 1 2 3; do
    assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "run $i" --yes
done
ids=$(ls "$T/state/runs" | sort -r | paste -sd' ')
assert_exit 1 "$RB_BIN" -f "$RB" status nosuch
assert_contains "$RB_ERR" "no run 'nosuch' in '$T/state'"
assert_not_contains "$RB_ERR" "No such file" "no raw file error"
read -r newest middle oldest <<<"$ids"
assert_contains "$RB_ERR" "HINT: the latest runs, newest first: $newest (succeeded), $middle (succeeded), $oldest (succeeded)"
assert_exit 1 "$RB_BIN" -f "$RB" status ../runs
assert_contains "$RB_ERR" "no run '../runs'"
