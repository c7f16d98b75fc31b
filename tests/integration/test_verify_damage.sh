#!/usr/bin/env bash
# The compare/equal/totals checks against real PostgreSQL with injected damage, each found exactly
# (issue 4 "Correctness"): clean data passes with no false alarm (numeric scale 4 vs 2, +01:00 vs
# UTC timestamps, NULL and '' rows, legacy history before cutover, pending rows filtered by
# `where`); then one damage at a time, repaired before the next: a deleted row, an extra legacy row
# (only the equal count check sees it), a one-cent change (compare sees it, totals passes at its
# inclusive 0.01 boundary; two cents fail totals), NULL versus '', a changed timestamp, a trailing
# space, a key range all missing, a NULL total on one side, a 1-row table, an empty table.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg

F=$RB_SOURCE_DIR/tests/integration/verify
T=$(rb_tmpdir)
NEW=$(rb_createdb vnew)
LEG=$(rb_createdb vlegacy)
rb_psql "$NEW" - <"$F/new.sql"
rb_psql "$LEG" - <"$F/legacy.sql"
RB=$T/runbook.yaml
sed -e "s|@STATE@|$T/state|" -e "s|@NEW@|$(rb_conninfo "$NEW")|" -e "s|@LEGACY@|$(rb_conninfo "$LEG")|" \
  "$F/runbook.yaml.in" >"$RB"

# verify CODE: run `verify -o json`, expect exit CODE, keep the report in $T/r.json
verify() {
  assert_exit "$1" "$RB_BIN" -f "$RB" -o json verify
  cp "$RB_OUT_FILE" "$T/r.json"
}
# q JQ: a value of the last report
q() { jq -c "$1" "$T/r.json"; }
chk() { q ".checks[] | select(.name == \"$1\") | $2"; }
passes() { # everything but the named checks passed
  local failing=$1
  assert_eq "$failing" "$(jq -r '[.checks[] | select(.passed | not) | .name] | join(",")' "$T/r.json")" \
    "only '$failing' failed"
}

# --- clean data: no false alarm --------------------------------------------------------------
verify 0
assert_eq '"passed"' "$(q .verification)" "clean data passes"
assert_eq 2940 "$(chk 'Synced payments match' .compare.source_rows)" "completed payments since cutover compared"
assert_eq 0 "$(chk 'Synced payments match' .compare.buckets_differing)" "no bucket differs on clean data"
assert_eq 1 "$(chk 'Single row' .compare.source_rows)" "1-row table compared"
assert_eq 0 "$(chk 'Empty table' .compare.source_rows)" "empty table: nothing to compare"
assert_exit 0 "$RB_BIN" -f "$RB" verify
assert_contains "$RB_OUT" "verification passed: 5 of 5 checks passed"

# --- a deleted row ---------------------------------------------------------------------------
rb_psql "$LEG" "delete from payroll_history where payment_id = 3001"
verify 1
passes "Synced payments match,Totals since cutover"
assert_eq 1 "$(chk 'Synced payments match' .compare.missing_in_legacy)" "one row missing"
assert_eq 0 "$(chk 'Synced payments match' .compare.differing)" "nothing else differs"
assert_eq '{"payment_id":"3001"}' "$(chk 'Synced payments match' '.compare.missing[0].key')" "the deleted key is named"
assert_eq '"1010.25"' "$(chk 'Synced payments match' '.compare.missing[0].new.gross_pay')" \
  "the missing row's new values are listed, at legacy's scale"
rb_psql "$LEG" "insert into payroll_history values (3001, 2, '2026-11-16', 1010.25, 828.50, 'note 3001', '2026-11-04 10:31:00Z')"
verify 0

# --- an extra legacy row: only the equal count check sees it ----------------------------------
rb_psql "$LEG" "insert into employees values (41, 'E0041', 'Ghost'); insert into payroll_history values (900001, 41, '2026-10-01', 1, 1, null, null)"
verify 1
passes "Employee count"
assert_eq '"40"' "$(chk 'Employee count' .new)" "new count"
assert_eq '"41"' "$(chk 'Employee count' .legacy)" "legacy count"
rb_psql "$LEG" "delete from employees where employee_id = 41; delete from payroll_history where payment_id = 900001"
verify 0

# --- a one-cent change ------------------------------------------------------------------------
rb_psql "$LEG" "update payroll_history set gross_pay = gross_pay + 0.01 where payment_id = 4321"
verify 1
passes "Synced payments match"
assert_eq 1 "$(chk 'Synced payments match' .compare.differing)" "one row differs"
assert_eq '[{"column":"gross_pay","new":"1333.25","legacy":"1333.26"}]' \
  "$(chk 'Synced payments match' '.compare.differences[0].columns')" "the cent is shown with both values"
assert_eq true "$(chk 'Totals since cutover' .passed)" "|variance| = 0.01 passes a 0.01 tolerance"
rb_psql "$LEG" "update payroll_history set gross_pay = gross_pay + 0.01 where payment_id = 4321"
verify 1
passes "Synced payments match,Totals since cutover"
assert_eq '{"key":"2","column":"gross","new":"111768.7500","legacy":"111768.77","variance":"-0.0200"}' \
  "$(chk 'Totals since cutover' '.differences[0]')" "two cents fail totals, listed with both values and the variance"
rb_psql "$LEG" "update payroll_history set gross_pay = gross_pay - 0.02 where payment_id = 4321"
verify 0

# --- NULL versus empty string -------------------------------------------------------------------
rb_psql "$LEG" "update payroll_history set note = '' where payment_id = 3003"   # 3003 = 7 * 429: NULL in new
verify 1
passes "Synced payments match"
assert_eq '{"payment_id":"3003"}' "$(chk 'Synced payments match' '.compare.differences[0].key')" "the row is named"
assert_eq '[{"column":"note","new":null,"legacy":""}]' "$(chk 'Synced payments match' '.compare.differences[0].columns')" \
  "NULL and '' are told apart"
rb_psql "$LEG" "update payroll_history set note = null where payment_id = 3003"
verify 0

# --- a changed timestamp -------------------------------------------------------------------------
rb_psql "$LEG" "update payroll_history set paid_at = paid_at + interval '1 second' where payment_id = 2222"
verify 1
assert_eq '[{"column":"paid_at","new":"2026-11-03 21:32:00+00","legacy":"2026-11-03 21:32:01+00"}]' \
  "$(chk 'Synced payments match' '.compare.differences[0].columns')" "one second is found, in UTC"
rb_psql "$LEG" "update payroll_history set paid_at = paid_at - interval '1 second' where payment_id = 2222"
verify 0

# --- a trailing space ----------------------------------------------------------------------------
rb_psql "$LEG" "update payroll_history set note = note || ' ' where payment_id = 2501"
verify 1
assert_eq '[{"column":"note","new":"note 2501","legacy":"note 2501 "}]' \
  "$(chk 'Synced payments match' '.compare.differences[0].columns')" "a trailing space is a difference"
assert_exit 1 "$RB_BIN" -f "$RB" verify
assert_contains "$RB_OUT" "note new 'note 2501' legacy 'note 2501 '" "the text report quotes values"
rb_psql "$LEG" "update payroll_history set note = 'note 2501' where payment_id = 2501"
verify 0

# --- a key range all missing ---------------------------------------------------------------------
rb_psql "$LEG" "create table saved as select * from payroll_history where payment_id between 4000 and 4299;
                delete from payroll_history where payment_id between 4000 and 4299"
verify 1
passes "Synced payments match,Totals since cutover"
assert_eq 294 "$(chk 'Synced payments match' .compare.missing_in_legacy)" "every completed row of the range counted"
assert_eq 100 "$(chk 'Synced payments match' '.compare.missing | length')" "the first 100 listed"
assert_eq 0 "$(chk 'Synced payments match' .compare.differing)" "no false difference"
assert_eq '{"payment_id":"4001"}' "$(chk 'Synced payments match' '.compare.missing[0].key')" "listed from the start of the range (4000 is pending)"
rb_psql "$LEG" "insert into payroll_history select * from saved; drop table saved"
verify 0

# --- an employee legacy lacks entirely: totals fail on the key missing there --------------------
rb_psql "$LEG" "create table saved as select * from payroll_history where emp_id = 5 and pay_date >= '2026-11-01';
                delete from payroll_history where emp_id = 5 and pay_date >= '2026-11-01'"
verify 1
passes "Synced payments match,Totals since cutover"
gross=$(rb_psql "$NEW" "select sum(gross_amount) from employee_payments where employee_id = 5 and status = 'completed' and pay_date >= '2026-11-01'")
assert_eq "{\"key\":\"5\",\"problem\":\"missing in legacy\",\"gross\":\"$gross\"}" \
  "$(chk 'Totals since cutover' '.differences[] | {key, problem, gross: .new.gross}')" "a key on one side only fails, with its totals"
assert_eq 1 "$(chk 'Totals since cutover' .keys_missing)" "one key missing"
rb_psql "$LEG" "insert into payroll_history select * from saved; drop table saved"
verify 0

# --- a NULL total on one side: never equal to a number ---------------------------------------------
rb_psql "$LEG" "create table saved as select * from payroll_history where emp_id = 7 and pay_date >= '2026-11-01';
                alter table payroll_history alter gross_pay drop not null;
                update payroll_history set gross_pay = null where emp_id = 7 and pay_date >= '2026-11-01'"
verify 1
passes "Synced payments match,Totals since cutover"
gross=$(rb_psql "$NEW" "select sum(gross_amount) from employee_payments where employee_id = 7 and status = 'completed' and pay_date >= '2026-11-01'")
assert_eq "{\"key\":\"7\",\"column\":\"gross\",\"new\":\"$gross\",\"legacy\":null}" \
  "$(chk 'Totals since cutover' '.differences[] | {key, column, new, legacy}')" "a NULL total differs from a number"
rb_psql "$LEG" "delete from payroll_history where emp_id = 7 and pay_date >= '2026-11-01';
                insert into payroll_history select * from saved; drop table saved;
                alter table payroll_history alter gross_pay set not null"
verify 0

# --- a 1-row table -------------------------------------------------------------------------------
rb_psql "$LEG" "update one_row set v = 'Only' where k = 1"
verify 1
passes "Single row"
assert_eq '[{"column":"v","new":"only","legacy":"Only"}]' "$(chk 'Single row' '.compare.differences[0].columns')" \
  "the single row's difference"
rb_psql "$LEG" "delete from one_row"
verify 1
assert_eq 1 "$(chk 'Single row' .compare.missing_in_legacy)" "the single row missing"
rb_psql "$LEG" "insert into one_row values (1, 'only')"

# --- an empty table: legacy history alone is not a difference -------------------------------------
rb_psql "$LEG" "insert into no_rows values (2, 'more history')"
verify 0
assert_eq 0 "$(chk 'Empty table' .compare.source_rows)" "empty source: nothing to compare"

# --- a row changed in new after the sync (pending -> completed) is missing --------------------------
rb_psql "$NEW" "update employee_payments set status = 'completed' where id = 2050"
verify 1
assert_eq '{"payment_id":"2050"}' "$(chk 'Synced payments match' '.compare.missing[0].key')" "the where clause is honoured"
rb_psql "$NEW" "update employee_payments set status = 'pending' where id = 2050"
verify 0
