#!/usr/bin/env bash
# `-o json` as docs/json.md documents it (issue 16, "Output that machines can rely on"): every
# command, against real PostgreSQL, in success and failure cases, its stdout checked by
# json_shapes.py against the JSON Schemas extracted from docs/json.md: exactly one document,
# format_version 1 and the command first, no undocumented top-level key, and on failure an
# error object whose exit_code is the real exit status and whose message (and hint) is what
# stderr says. Cases: usage errors (before and after a command is known), an invalid runbook,
# validate, assess (warranted, declined), plan and execute --dry-run, gaps (clean, --exit-code
# with gaps), verify (failing, passing), prepare (not ready), status and runs before and after a
# run, execute failing in restore (each action's state, pending ones listed), resume to success,
# report (json, bundle, --format md refused), approve (refused for the initiator, given), deny
# (the waiting execute's document: declined, exit 3), the lock held (exit 4), completion.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg
command -v jq >/dev/null || rb_fail "jq is not installed (scripts/install-deps)"

DOC=$RB_SOURCE_DIR/docs/json.md
CHECK=$RB_SOURCE_DIR/tests/integration/json_shapes.py
F=$RB_SOURCE_DIR/tests/integration/verify
T=$(rb_tmpdir)
NEW=$(rb_createdb jnew)
LEG=$(rb_createdb jlegacy)
rb_psql "$NEW" - <"$F/new.sql"
rb_psql "$LEG" - <"$F/legacy.sql"
RB=$T/runbook.yaml
# the verify tests' two databases, sync tables and checks, plus a decision, approvals, a restore
# step that fails until $T/restore-ok exists, and a prepare section without backups (NOT_READY)
sed -e "s|@STATE@|$T/state|" -e "s|@NEW@|$(rb_conninfo "$NEW")|" -e "s|@LEGACY@|$(rb_conninfo "$LEG")|" \
  "$F/runbook.yaml.in" >"$RB"
cat >>"$RB" <<YAML
signals:
  calc_error_ratio: { file: signals.json }
decision:
  matrix:
    - scenario: Critical calculation errors
      when: calc_error_ratio > 0.10
      severity: critical
      impact: high
      action: rollback
      recovery_time: 2h-4h
  rollback_if:
    - severity == "critical" or severity == "high"
approval:
  required: { critical: 2, high: 1 }
  timeout: 10m
restore:
  - name: Start legacy
    run: [sh, -c, "test -f $T/restore-ok"]
  - name: Warm caches
    run: [sh, -c, "true"]
prepare:
  contacts:
    - { role: DBA, name: Dana, phone: "+1 555 0101" }
YAML
echo '{ "calc_error_ratio": 0.14 }' >"$T/signals.json"

declare -A SEEN=()
n=0
LIST=$T/documents.tsv
: >"$LIST"
# check_doc SCHEMA COMMAND RC OUT ERR WHAT: the invocation that wrote OUT and ERR and exited RC
# is checked against docs/json.md at the end, all in one go (COMMAND "null": before a command
# was known). Its stdout must at least be one JSON document now, for the assertions below.
check_doc() {
  jq -e 'type == "object"' "$4" >/dev/null 2>&1 || rb_fail "$6: stdout is not a JSON object: $(head -c 800 "$4")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" >>"$LIST"
  SEEN[$1]=1
}
# shape SCHEMA COMMAND EXIT ARGS...: rollbackctl -o json ARGS exits EXIT (its document checked
# at the end); its stdout stays in $OUT, stderr in $ERR
shape() {
  local schema=$1 command=$2 want=$3 rc=0 what
  shift 3
  n=$((n + 1))
  OUT=$T/out.$n ERR=$T/err.$n
  what="-o json $(printf '%q ' "$@" | cut -c1-120)"
  "$RB_BIN" -o json "$@" >"$OUT" 2>"$ERR" || rc=$?
  [[ "$rc" == "$want" ]] || rb_fail "expected exit $want, got $rc: $what: $(tail -n 5 "$ERR")"
  check_doc "$schema" "$command" "$rc" "$OUT" "$ERR" "$what"
  rb_ok "exit $rc: $what"
}
j() { jq -r "$1" "$OUT"; }
latest() { ls "$T/state/runs" | tail -n 1; }
wait_waiting() { # until the latest run waits for approvals
  local i
  for ((i = 0; i < 600; i++)); do
    [[ -d "$T/state/runs" ]] && "$RB_BIN" -f "$RB" -o json status 2>/dev/null | jq -e '.waiting != null' >/dev/null &&
      return 0
    sleep 0.05
  done
  rb_fail "the run never waited for approvals: $(cat "$T/bg.err")"
}

# --- every command has its schema -----------------------------------------------------------------
names=$(python3 "$CHECK" names "$DOC")
for c in $("$RB_BIN" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 {print $1}'); do
  grep -qx "$c" <<<"$names" || rb_fail "docs/json.md has no schema for '$c'"
done
rb_ok "docs/json.md has a schema for every command of --help"

# --- the command line --------------------------------------------------------------------------------
shape envelope null 2
assert_eq "no command given" "$(j .error.message)" "no command: the error says so"
shape envelope null 2 bogus
assert_eq "'rollbackctl --help' lists the commands" "$(j .error.hint)" "the hint"
shape envelope null 2 --lock-timeout soon status
shape status status 2 -f "$RB" status --bogus
assert_contains "$(cat "$ERR")" "usage: rollbackctl status" "the usage line stays on stderr"
shape execute execute 2 -f "$RB" execute --yes
shape completion completion 0 completion bash
assert_contains "$(j .script)" "complete" "the script is in the document"
shape completion completion 2 completion tcsh
assert_contains "$("$RB_BIN" -o json --version)" "rollbackctl " "--version stays text"

# --- the runbook ------------------------------------------------------------------------------------
printf 'version: 1\nname: [broken\n' >"$T/bad.yaml"
shape validate validate 5 -f "$T/bad.yaml" validate
assert_eq "false null" "$(j '"\(.valid) \(.name)"')" "invalid: valid false, no name"
shape status status 5 -f "$T/bad.yaml" status
shape validate validate 0 -f "$RB" validate
assert_eq "true verify-test" "$(j '"\(.valid) \(.name)"')" "valid, with its name"

# --- before any run ---------------------------------------------------------------------------------
shape status status 0 -f "$RB" status
GOOD=$OUT
assert_eq "null null 0 0" "$(j '"\(.run_id) \(.outcome) \(.actions | length) \(.phases | length)"')" \
  "status with no run: the same keys, null and empty"
shape runs runs 0 -f "$RB" runs
assert_eq 0 "$(j '.runs | length')" "runs: none yet"
shape report report 1 -f "$RB" report
shape resume resume 1 -f "$RB" resume
shape status status 1 -f "$RB" status 20260101T000000Z-000000

# --- read-only commands ----------------------------------------------------------------------------
shape assess assess 0 -f "$RB" assess
assert_eq "warranted critical" "$(j '"\(.verdict) \(.severity)"')" "assess: warranted, critical by the matrix"
shape assess assess 3 -f "$RB" assess --severity low
assert_eq "not_warranted" "$(j .verdict)" "declined: the document and the error"
assert_eq "$(j .why)" "$(j .error.message)" "the error is the assessment's why"
shape plan plan 0 -f "$RB" plan
assert_contains "$(j '[.actions[].name] | join(" ")')" "restore/start-legacy" "plan: the restore step"
shape plan plan 0 -f "$RB" plan --offline
shape plan execute 0 -f "$RB" execute --dry-run --offline
shape gaps gaps 0 -f "$RB" gaps
rb_psql "$LEG" "delete from payroll_history where payment_id between 3001 and 3003"
rb_psql "$LEG" "update payroll_history set note = 'changed' where payment_id = 4001"
shape gaps gaps 1 -f "$RB" gaps --exit-code
assert_eq "3 1" "$(j '"\([.gaps[] | select(.action == "manual_entry")] | length) \([.gaps[] | select(.action == "review")] | length)"')" \
  "gaps: three to enter, one to review"
assert_eq "3 rows to enter in legacy, 1 to review" "$(j .error.message)" \
  "--exit-code: the error object says what text mode leaves to the table"
shape verify verify 1 -f "$RB" verify
assert_eq failed "$(j .verification)" "verify: the damage found"
shape prepare prepare 1 -f "$RB" prepare
assert_eq false "$(j .ready)" "prepare: not ready (no backup named)"

# --- execute: fails in restore; each action's state ------------------------------------------------
shape execute execute 1 -f "$RB" execute --reason "json shapes" --yes --severity high
R1=$(j .run_id)
assert_eq failed "$(j .outcome)" "execute: failed"
assert_eq "done" "$(j '[.actions[] | select(.phase == "sync") | .state] | unique | join(",")')" "sync done"
assert_eq "failed" "$(j '.actions[] | select(.name == "restore/start-legacy") | .state')" "the restore step failed"
assert_contains "$(j '.actions[] | select(.name == "restore/start-legacy") | .error')" "exited with status 1"
assert_eq "pending null null" "$(j '.actions[] | select(.name == "restore/warm-caches") | "\(.state) \(.started) \(.result)"')" \
  "the step after the failed one, never reached: pending"
assert_eq 0 "$(j '[.actions[] | select(.phase == "verify")] | length')" \
  "a phase not reached has planned nothing, so lists nothing"
assert_eq "assess:done approve:done sync:done restore:failed" "$(j '[.phases[] | "\(.name):\(.state)"] | join(" ")')" \
  "the phases reached, as status names them"
exec_error=$(j .error.message)
shape status status 0 -f "$RB" status
assert_eq "$R1 failed" "$(j '"\(.run_id) \(.outcome)"')" "status: the failed run"
assert_eq "$exec_error" "$(j .run_error)" "status's run_error is what execute's error said"
assert_eq "failed" "$(j '.actions[] | select(.name == "restore/start-legacy") | .state')" \
  "status and execute use the same words"
shape runs runs 0 -f "$RB" runs
assert_eq "$R1 failed" "$(j '.runs[0] | "\(.run_id) \(.outcome)"')" "runs: the failed run"

# --- resume to success, report ----------------------------------------------------------------------
touch "$T/restore-ok"
shape resume resume 0 -f "$RB" resume
assert_eq "$R1 succeeded" "$(j '"\(.run_id) \(.outcome)"')" "resume: the same run, succeeded"
assert_eq "done" "$(j '[.actions[].state] | unique | join(",")')" "after resume every action is done"
shape resume resume 0 -f "$RB" resume
assert_eq succeeded "$(j .outcome)" "resume of a succeeded run: its document, exit 0"
shape verify verify 0 -f "$RB" verify
shape report report 0 -f "$RB" report
assert_eq "$R1 $R1 succeeded" "$(j '"\(.run_id) \(.report.run_id) \(.report.outcome)"')" "report: the run's"
shape report report 0 -f "$RB" report "$R1" --bundle "$T/evidence.tar.gz"
assert_eq "$T/evidence.tar.gz null" "$(j '"\(.bundle) \(.report)"')" "report --bundle: the file, no report"
shape report report 2 -f "$RB" report --format md

# --- approvals: critical (the matrix) needs one more person; the lock is held meanwhile ----------
"$RB_BIN" -f "$RB" -o json execute --reason "json shapes approve" --yes >"$T/bg.out" 2>"$T/bg.err" &
PID=$!
rb_on_exit kill -9 "$PID"
wait_waiting
R2=$(latest)
shape status status 0 -f "$RB" status "$R2"
assert_eq "1" "$(j .waiting.still_needed)" "status while waiting"
shape execute execute 4 -f "$RB" execute --reason "second" --yes --severity high
shape approve approve 1 -f "$RB" approve "$R2"
assert_contains "$(j .error.message)" "your confirmation already counts" "the initiator is refused"
shape approve approve 1 -f "$RB" approve 20260101T000000Z-000000
n=$((n + 1))
rc=0; env SUDO_USER=rbjsonlead "$RB_BIN" -f "$RB" -o json approve "$R2" --comment "checked" \
  >"$T/out.$n" 2>"$T/err.$n" || rc=$?
assert_eq 0 "$rc" "another person approves"
check_doc approve approve "$rc" "$T/out.$n" "$T/err.$n" "approve as another person"
assert_eq "approve rbjsonlead 0" "$(jq -r '"\(.recorded.kind) \(.recorded.user) \(.still_needed)"' "$T/out.$n")" \
  "what was recorded, for whom, none more needed"
rc=0; wait "$PID" || rc=$?
assert_eq 0 "$rc" "the approved run succeeded"
cp "$T/bg.out" "$T/bg1.out"; cp "$T/bg.err" "$T/bg1.err"
check_doc execute execute "$rc" "$T/bg1.out" "$T/bg1.err" "execute waiting for an approval"
assert_eq "$R2 succeeded" "$(jq -r '"\(.run_id) \(.outcome)"' "$T/bg.out")" "its one document, printed at the end"
shape approve approve 1 -f "$RB" approve "$R2"
assert_contains "$(j .error.message)" "is not waiting for approvals"

# --- deny: the waiting execute ends declined (exit 3) --------------------------------------------
"$RB_BIN" -f "$RB" -o json execute --reason "json shapes deny" --yes >"$T/bg.out" 2>"$T/bg.err" &
PID=$!
rb_on_exit kill -9 "$PID"
wait_waiting
R3=$(latest)
[[ "$R3" != "$R2" ]] || rb_fail "no new run"
shape deny deny 2 -f "$RB" deny "$R3"
n=$((n + 1))
rc=0; env SUDO_USER=rbjsondeny "$RB_BIN" -f "$RB" -o json deny "$R3" --comment "not today" \
  >"$T/out.$n" 2>"$T/err.$n" || rc=$?
assert_eq 0 "$rc" "deny recorded"
check_doc deny deny "$rc" "$T/out.$n" "$T/err.$n" "deny as another person"
assert_eq "deny" "$(jq -r .recorded.kind "$T/out.$n")" "a denial recorded"
rc=0; wait "$PID" || rc=$?
assert_eq 3 "$rc" "the denied run exits 3"
check_doc execute execute "$rc" "$T/bg.out" "$T/bg.err" "execute denied"
assert_eq "declined 3" "$(jq -r '"\(.outcome) \(.error.exit_code)"' "$T/bg.out")" "declined, in its document"
assert_eq "failed" "$(jq -r '.actions[] | select(.name == "approve/quorum") | .state' "$T/bg.out")" \
  "the denied approval failed"
assert_eq 0 "$(jq '[.actions[] | select(.phase == "restore")] | length' "$T/bg.out")" "nothing after it ran"

# --- every document against docs/json.md's schemas --------------------------------------------------
for s in $names; do
  # action: inside execute, resume and status; plan-file: a file (test_plan_file checks it)
  [[ "$s" == action || "$s" == plan-file || -n "${SEEN[$s]:-}" ]] || rb_fail "schema '$s' of docs/json.md was not checked against an output"
done
# the checker itself refuses what it should: a wrong exit_code, two documents, a stray key
printf '{"format_version": 1, "command": "status", "error": {"message": "m", "hint": null, "exit_code": 2}}\n' >"$T/bad1"
printf 'rollbackctl: error: m\n' >"$T/bad.err"
cat "$GOOD" "$GOOD" >"$T/bad2"
jq '. + {"surprise": 1}' "$GOOD" >"$T/bad3"
printf 'status\tstatus\t%s\t%s\t%s\t%s\n' 1 "$T/bad1" "$T/bad.err" "wrong exit_code" 0 "$T/bad2" "$T/bad.err" \
  "two documents" 0 "$T/bad3" "$T/bad.err" "undocumented key" >"$T/bad.tsv"
assert_eq 3 "$(python3 "$CHECK" batch "$DOC" "$T/bad.tsv" 2>/dev/null | grep -c '^not ok - ')" \
  "json_shapes.py refuses a wrong exit_code, two documents and an undocumented key"
python3 "$CHECK" batch "$DOC" "$LIST" || rb_fail "documents not as docs/json.md says (above)"
rb_ok "all $(wc -l <"$LIST") documents as docs/json.md says, every schema checked against real outputs"
echo "ok - -o json: every command's documents are as docs/json.md says"
