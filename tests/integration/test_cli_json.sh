#!/usr/bin/env bash
# `-o json` gives machines exactly one JSON document on stdout, whatever the command did: the
# per-action lines execute and resume show people go to stderr then. Also the command line's
# own errors. Restore `run` steps are the
# actions; no server is needed.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
RB=$T/runbook.yaml
cat >"$RB" <<YAML
version: 1
name: json-test
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


"$RB_BIN" -f "$RB" -o json status >"$T/status0" 2>"$T/err0"
assert_eq "None [] None" "$(rb_jget "$T/status0" '" ".join(str(v) for v in (d["run_id"], d["actions"], d["outcome"]))')" \
  "status -o json with no runs: the run's keys, null or empty"

"$RB_BIN" -f "$RB" -o json plan --offline >"$T/plan" 2>"$T/err-plan"
assert_eq "3" "$(rb_jget "$T/plan" 'len(d["actions"])')" "plan -o json is one document (approve/quorum and two steps)"
assert_eq "[None, None, None]" "$(rb_jget "$T/plan" '[a["fields"]["observed"] for a in d["actions"]]')" "an offline plan observed nothing"
assert_eq "64" "$(rb_jget "$T/plan" 'len(d["plan_sha256"])')" "plan -o json carries its plan hash"

rc=0; "$RB_BIN" -f "$RB" -o json execute --reason "json test" --yes >"$T/exec" 2>"$T/err-exec" || rc=$?
assert_eq "1" "$rc" "the failing step fails the run"
rb_jget "$T/exec" 'd' >/dev/null 2>&1 || rb_fail "execute -o json stdout is not one JSON document: $(cat "$T/exec")"
assert_eq "failed" "$(rb_jget "$T/exec" 'd["outcome"]')" "execute -o json outcome"
assert_contains "$(cat "$T/err-exec")" "restore/step-one" "the per-action lines went to stderr"

touch "$T/two-ok"
"$RB_BIN" -f "$RB" -o json resume >"$T/resume" 2>"$T/err-resume" || { cat "$T/err-resume"; rb_fail "resume failed"; }
rb_jget "$T/resume" 'd' >/dev/null 2>&1 || rb_fail "resume -o json stdout is not one JSON document: $(cat "$T/resume")"
assert_eq "succeeded" "$(rb_jget "$T/resume" 'd["outcome"]')" "resume -o json outcome"
assert_contains "$(cat "$T/err-resume")" "restore/step-two" "the per-action lines went to stderr"
assert_eq "one two two " "$(tr '\n' ' ' <"$T/log")" "step one once, the failed step again"

"$RB_BIN" -f "$RB" -o json status >"$T/status1" 2>"$T/err1"
assert_eq "succeeded" "$(rb_jget "$T/status1" 'd["outcome"]')" "status -o json after resume"

# Text mode keeps the per-action lines on stdout, for people.
rm -f "$T/two-ok"
"$RB_BIN" -f "$RB" execute --reason "text" --yes >"$T/text" 2>/dev/null || true
assert_contains "$(cat "$T/text")" "restore/step-one" "text: per-action lines on stdout"
# An option missing its value says so (not "unknown option").
assert_exit 2 "$RB_BIN" -f "$RB" execute --yes --reason
assert_contains "$RB_ERR" "option '--reason' needs a value"
assert_exit 2 "$RB_BIN" -f "$RB" plan --severity
assert_contains "$RB_ERR" "option '--severity' needs a value"
assert_exit 2 "$RB_BIN" -f "$RB" gaps --table
assert_contains "$RB_ERR" "option '--table' needs a value"
# Every option a command takes is in its --help.
assert_contains "$("$RB_BIN" validate --help)" "--strict"
assert_contains "$("$RB_BIN" gaps --help)" "--table NAME"
echo "ok - -o json: one document on stdout; options missing values"
