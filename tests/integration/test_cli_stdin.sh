#!/usr/bin/env bash
# `-f -`: the runbook from standard input, for validate, plan, execute and status. Diagnostics
# name it <stdin>; relative paths in it resolve against the current folder; execute without
# --yes is a usage error (exit 2) with nothing created; run_started records <stdin> and the
# SHA-256 of the bytes read.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
mkdir -p "$T/elsewhere" "$T/cwd"
RB=$T/elsewhere/runbook.yaml
cat >"$RB" <<'YAML'
version: 1
name: stdin-test
cutover: 2026-11-01T00:00:00Z
state_dir: state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Step one
    run: [sh, -c, "echo one >> ran"]
YAML
cd "$T/cwd"

assert_exit 0 "$RB_BIN" -f - validate <"$RB"
assert_contains "$RB_OUT" "valid"
assert_exit 0 "$RB_BIN" -o json -f - validate <"$RB"
assert_eq "true" "$(jq -r .valid <<<"$RB_OUT")" "validate -o json of stdin"

# a broken runbook: its diagnostics name <stdin> with line and column
printf 'version: 1\nname: x\ncutover: 2026-11-01T00:00:00Z\nstate_dir: s\nbogus_key: 1\n' >"$T/bad.yaml"
assert_exit 5 "$RB_BIN" -f - validate <"$T/bad.yaml"
assert_contains "$RB_ERR" "<stdin>:5:1: error:"
assert_exit 5 "$RB_BIN" -f - plan <"$T/bad.yaml"
assert_contains "$RB_ERR" "<stdin>:5:1: error:"
assert_contains "$RB_ERR" "'rollbackctl -f - validate' lists every problem"
assert_exit 5 "$RB_BIN" -f - validate </dev/null
assert_contains "$RB_ERR" "<stdin>"

assert_exit 0 "$RB_BIN" -f - plan --offline <"$RB"
assert_contains "$RB_OUT" "Step one"

# execute: the prompt cannot read stdin, so --yes is required; nothing is created without it
assert_exit 2 "$RB_BIN" -f - execute --reason "from stdin" <"$RB"
assert_contains "$RB_ERR" "execute -f - needs --yes"
[[ ! -e "$T/cwd/state" && ! -e "$T/elsewhere/state" ]] && rb_ok "no state_dir made without --yes" \
  || rb_fail "a state_dir was made: $(ls -R "$T")"

assert_exit 0 "$RB_BIN" -f - execute --reason "from stdin" --yes <"$RB"
# relative paths against the current folder, not the file's (which stdin does not have)
[[ -d "$T/cwd/state/runs" && ! -e "$T/elsewhere/state" ]] && rb_ok "state_dir relative to the current folder" \
  || rb_fail "state_dir not in the current folder: $(ls -R "$T")"
assert_eq "one" "$(cat "$T/cwd/ran")" "the step ran in the current folder"
run=$(ls "$T/cwd/state/runs")
started=$(head -1 "$T/cwd/state/runs/$run/journal.jsonl")
[[ "$(jq -r .event <<<"$started")" == run_started ]] || started=$(grep -m1 '"event":"run_started"' "$T/cwd/state/runs/$run/journal.jsonl")
assert_eq "<stdin>" "$(jq -r .data.runbook_path <<<"$started")" "run_started names <stdin>"
assert_eq "$(sha256sum <"$RB" | cut -d' ' -f1)" "$(jq -r .data.runbook_sha256 <<<"$started")" \
  "run_started records the SHA-256 of the bytes read"

assert_exit 0 "$RB_BIN" -f - -o json status <"$RB"
assert_eq "succeeded $run" "$(jq -r '"\(.outcome) \(.run_id)"' <<<"$RB_OUT")" "status -f -"
# the same runbook by its path resolves state_dir against its own folder: a different state_dir
assert_exit 0 "$RB_BIN" -f "$RB" runs
assert_contains "$RB_OUT" "no runs yet in '$T/elsewhere/state'"
echo "ok - -f - reads the runbook from stdin"
