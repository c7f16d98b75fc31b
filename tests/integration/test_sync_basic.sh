#!/usr/bin/env bash
# The sync phase end to end through the CLI, with a sync-only runbook (issue 3 "What it does"):
# plan shows both sides' SQL and the rows at risk and changes nothing; execute inserts new rows,
# updates stale ones, leaves equal ones alone, writes one ledger row per table and the run totals;
# a second execute finds nothing to change; a change in the source after that is picked up.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/integration/sync/common.sh"
sync_setup

before=$(table_md5 "$LEG" "select * from employees")

# --- plan: exact SQL on both sides, rows at risk, nothing touched --------------------------------
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_OUT" "rows at risk: 40" "plan counts the new employees"
assert_contains "$RB_OUT" "rows at risk: 900" "plan counts completed payments since cutover"
assert_contains "$RB_OUT" "rows at risk: 35" "plan counts tax changes"
assert_contains "$RB_OUT" "COPY (SELECT id AS \"payment_id\", employee_id AS \"emp_id\", pay_date AS \"pay_date\", gross_amount AS \"gross_pay\", net_amount AS \"net_pay\", federal_tax AS \"fed_tax\" FROM \"employee_payments\" WHERE \"created_at\" >= '2026-11-01T00:00:00Z'::timestamptz AND (status = 'completed')) TO STDOUT" \
  "plan shows the source COPY"
assert_contains "$RB_OUT" "ON CONFLICT (\"payment_id\") DO UPDATE SET" "plan shows the upsert"
assert_contains "$RB_OUT" "IS DISTINCT FROM" "the upsert skips equal rows"
assert_eq "" "$(rb_psql "$LEG" "select to_regclass('rollbackctl_ledger')")" "plan created no ledger"
assert_eq "$before" "$(table_md5 "$LEG" "select * from employees")" "plan changed nothing in legacy"
assert_exit 0 "$RB_BIN" -f "$RB" -o json plan
assert_contains "$RB_OUT" "sync/processed_payments"
sync_field() { jq -c --arg n "sync/$1" ".actions[] | select(.name == \$n) | .fields$2" <<<"$RB_OUT"; }
assert_eq "900" "$(sync_field processed_payments .observed.rows)" "fields: the rows at risk, observed"
assert_eq "40" "$(sync_field new_employees .observed.rows)"
assert_eq '["payment_id"]' "$(sync_field processed_payments .key)" "fields: the key"
assert_contains "$(sync_field processed_payments '.sql.source[0]')" "FROM \\\"employee_payments\\\" WHERE" "fields: the source COPY"
assert_eq '"COMMIT"' "$(sync_field processed_payments '.sql.target[-1]')" "fields: the target statements end with COMMIT"

# --- execute --------------------------------------------------------------------------------
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "sync test" --yes
assert_contains "$RB_OUT" "40 at risk: 39 inserted, 1 updated, 0 unchanged"
assert_contains "$RB_OUT" "900 at risk: 900 inserted, 0 updated, 0 unchanged"
assert_contains "$RB_OUT" "35 at risk: 0 inserted, 33 updated, 2 unchanged"
run_json
assert_eq 39 "$(res new_employees inserted)" "journaled result: inserted"
assert_eq 1 "$(res new_employees updated)" "journaled result: updated"
assert_eq 900 "$(res processed_payments at_risk)" "journaled result: at risk"
assert_eq true "$(jq '[.actions[] | select(.phase == "sync") | .result.rows_per_s] | all(. > 0)' "$T/status.json")" "rows/s per table"
journal=$(ls "$T"/state/runs/*/journal.jsonl)
fact() { grep '"event":"fact"' "$journal" | jq -c "select(.data.key == \"$1\") | .data.value" | tail -n 1; }
assert_eq 975 "$(fact records_at_risk)" "records at risk in the run totals"
assert_eq 975 "$(fact records_recovered)" "records recovered"
assert_eq 0 "$(fact records_lost)" "records lost"
assert_eq '"100.00%"' "$(fact recovery_rate)" "recovery rate"

# Legacy now holds every new employee in its shape: status codes, date from timestamp.
assert_eq 140 "$(rb_psql "$LEG" "select count(*) from employees")" "all employees in legacy"
assert_eq "Employee 101|L|2020-04-11" "$(rb_psql "$LEG" "select full_name, status, hire_date from employees where employee_id = 101")" \
  "the stale hand-keyed row was corrected"
assert_eq "A|2020-05-18" "$(rb_psql "$LEG" "select status, hire_date from employees where employee_id = 138")" \
  "enum to status code, timestamp to date"
assert_eq "$(rb_psql "$NEW" "select sum(gross_amount) || '|' || sum(net_amount) || '|' || sum(federal_tax) from employee_payments where status = 'completed'")" \
  "$(rb_psql "$LEG" "select sum(gross_pay) || '|' || sum(net_pay) || '|' || sum(fed_tax) from payroll_history")" \
  "money matches to the cent"
assert_eq 3 "$(rb_psql "$LEG" "select count(*) from rollbackctl_ledger")" "one ledger row per table"
assert_eq "900" "$(rb_psql "$LEG" "select rows from rollbackctl_ledger where table_name = 'processed_payments'")"
assert_eq 0 "$(rb_psql "$LEG" "select count(*) from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())")" \
  "the sync lock ends with the run"

# --- a second execute finds nothing to change ---------------------------------------------------
after=$(table_md5 "$LEG" "select * from payroll_history")
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "again" --yes
assert_contains "$RB_OUT" "40 at risk: 0 inserted, 0 updated, 40 unchanged"
assert_contains "$RB_OUT" "900 at risk: 0 inserted, 0 updated, 900 unchanged"
assert_contains "$RB_OUT" "35 at risk: 0 inserted, 0 updated, 35 unchanged"
assert_eq "$after" "$(table_md5 "$LEG" "select * from payroll_history")" "second execute changed nothing"
assert_eq 6 "$(rb_psql "$LEG" "select count(*) from rollbackctl_ledger")" "ledger rows of both runs"

# --- a correction in new after that is picked up ---------------------------------------------
rb_psql "$NEW" "update employee_payments set gross_amount = 2999.99 where id = 2501"
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "third" --yes
assert_contains "$RB_OUT" "900 at risk: 0 inserted, 1 updated, 899 unchanged"
assert_eq 2999.99 "$(rb_psql "$LEG" "select gross_pay from payroll_history where payment_id = 2501")" "the correction landed"
