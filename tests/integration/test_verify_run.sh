#!/usr/bin/env bash
# The verify phase inside a run: every check runs even when one fails, the run folder gets
# verification.json and verification.txt, the run fact "verification" decides the outcome (exit 1
# when failed), and the journal records each check's result. Then `verify` after a manual fix
# passes (exit 0), as an operator would re-check.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg

F=$RB_SOURCE_DIR/tests/integration/verify
T=$(rb_tmpdir)
NEW=$(rb_createdb vrnew)
LEG=$(rb_createdb vrlegacy)
rb_psql "$NEW" - <"$F/new.sql"
rb_psql "$LEG" - <"$F/legacy.sql"
RB=$T/runbook.yaml
sed -e "s|@STATE@|$T/state|" -e "s|@NEW@|$(rb_conninfo "$NEW")|" -e "s|@LEGACY@|$(rb_conninfo "$LEG")|" \
  "$F/runbook.yaml.in" >"$RB"

# damage the sync does not repair: an extra legacy employee (the equal check) and changed legacy
# history from before cutover (outside every check); and a gap the sync does repair
rb_psql "$LEG" "delete from payroll_history where payment_id = 3001"
rb_psql "$LEG" "insert into employees values (41, 'E0041', 'Ghost')"
rb_psql "$LEG" "update payroll_history set gross_pay = gross_pay + 5 where payment_id = 10"   # pre-cutover: outside the check

assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "verify test" --yes --force
run_dir=$(ls -d "$T"/state/runs/*/)
assert_contains "$RB_OUT$RB_ERR" "verification failed" "the run says verification failed"
[[ -s "$run_dir/verification.json" && -s "$run_dir/verification.txt" ]] || rb_fail "no verification report in $run_dir"
rb_ok "verification.json and verification.txt saved in the run folder"
assert_eq failed "$(jq -r .verification "$run_dir/verification.json")" "report verdict"
assert_eq 5 "$(jq '.checks | length' "$run_dir/verification.json")" "all five checks ran although one failed"
assert_eq "Employee count" "$(jq -r '[.checks[] | select(.passed | not) | .name] | join(",")' "$run_dir/verification.json")" \
  "only the count check failed"
assert_contains "$(cat "$run_dir/verification.txt")" "FAIL  Employee count [equal"
assert_contains "$(cat "$run_dir/verification.txt")" "new 40, legacy 41"
journal=$run_dir/journal.jsonl
assert_eq '"failed"' "$(jq -c 'select(.event == "fact" and .data.key == "verification") | .data.value' "$journal" | tail -1)" \
  "fact verification=failed journaled"
assert_eq failed "$(jq -r 'select(.action == "verify/employee-count") | .event' "$journal" | tail -1)" \
  "the failing check is a failed action"
assert_eq done "$(jq -r 'select(.action == "verify/totals-since-cutover") | .event' "$journal" | tail -1)" \
  "the check after it still ran"
assert_eq true "$(jq '.checks[0].passed' "$run_dir/verification.json")" "the sync repaired the missing payment"
assert_eq 2940 "$(jq -r 'select(.action == "verify/synced-payments-match" and .event == "done") | .data.compare.source_rows' "$journal")" \
  "the compare result is journaled"

# an operator fixes legacy by hand and re-checks
rb_psql "$LEG" "delete from employees where employee_id = 41"
assert_exit 0 "$RB_BIN" -f "$RB" verify
assert_contains "$RB_OUT" "verification passed: 5 of 5 checks passed"
# verify outside a run writes nothing into the state dir
assert_eq 1 "$(ls "$T/state/runs" | wc -l)" "verify created no run"

# resume re-runs the failed check; the report and the verdict follow it
assert_exit 0 "$RB_BIN" -f "$RB" resume
assert_eq passed "$(jq -r .verification "$run_dir/verification.json")" "the report was rewritten on resume"
assert_contains "$(cat "$run_dir/verification.txt")" "PASS  Employee count [equal"
assert_eq '"passed"' "$(jq -c 'select(.event == "fact" and .data.key == "verification") | .data.value' "$journal" | tail -1)" \
  "fact verification=passed journaled on resume"
assert_eq 1 "$(jq -r 'select(.action == "verify/synced-payments-match" and .event == "started") | .seq' "$journal" | wc -l)" \
  "a passed check is not run again"

# usage errors and a runbook without checks
assert_exit 2 "$RB_BIN" -f "$RB" verify --bogus
assert_contains "$RB_ERR" "unknown option '--bogus'"
sed '/^verify:/,$d' "$RB" >"$T/nochecks.yaml"
assert_exit 1 "$RB_BIN" -f "$T/nochecks.yaml" verify
assert_contains "$RB_ERR" "has no verify checks; nothing was verified"

# a check that cannot run (bad SQL) fails verify without stopping the others
sed -i 's/select count(\*) from employees }$/select count(*) from no_such_table }/' "$RB"
assert_exit 1 "$RB_BIN" -f "$RB" -o json verify
assert_contains "$(jq -r '.checks[] | select(.name == "Employee count") | .summary' "$RB_OUT_FILE")" "no_such_table"
assert_eq 4 "$(jq '[.checks[] | select(.passed)] | length' "$RB_OUT_FILE")" "the other four still passed"
