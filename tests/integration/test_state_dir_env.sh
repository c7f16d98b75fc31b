#!/usr/bin/env bash
# ROLLBACKCTL_STATE_DIR overrides the runbook's state_dir (issue 16): runs, journal and lock go
# there, status reads them there, and the runbook's own state_dir is left untouched; a relative
# value is relative to where rollbackctl runs; empty means not set.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
cat >"$T/runbook.yaml" <<YAML
version: 1
name: statedirtest
cutover: 2026-11-01T00:00:00Z
state_dir: $T/from-runbook
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Nothing
    run: ["true"]
YAML
assert_exit 0 env ROLLBACKCTL_STATE_DIR="$T/from-env" "$RB_BIN" -f "$T/runbook.yaml" execute --reason env --yes
assert_eq 1 "$(ls "$T/from-env/runs" | wc -l)" "the run went to ROLLBACKCTL_STATE_DIR"
assert_eq "no" "$([[ -e "$T/from-runbook" ]] && echo yes || echo no)" "the runbook's state_dir untouched"
assert_contains "$RB_OUT" "(journal: $T/from-env/runs/" "execute names the journal where it is"
assert_exit 0 env ROLLBACKCTL_STATE_DIR="$T/from-env" "$RB_BIN" -f "$T/runbook.yaml" -o json status
assert_eq "succeeded" "$(jq -r .outcome <<<"$RB_OUT")" "status reads the run there"

# relative to the working directory, not to the runbook's folder
mkdir "$T/cwd"
(cd "$T/cwd" && ROLLBACKCTL_STATE_DIR=rel "$RB_BIN" -f "$T/runbook.yaml" execute --reason rel --yes >/dev/null 2>&1) ||
  rb_fail "execute with a relative ROLLBACKCTL_STATE_DIR failed"
assert_eq 1 "$(ls "$T/cwd/rel/runs" | wc -l)" "a relative ROLLBACKCTL_STATE_DIR is relative to the working directory"

# empty: the runbook's state_dir
assert_exit 0 env ROLLBACKCTL_STATE_DIR= "$RB_BIN" -f "$T/runbook.yaml" execute --reason empty --yes
assert_eq 1 "$(ls "$T/from-runbook/runs" | wc -l)" "an empty ROLLBACKCTL_STATE_DIR is not set"
