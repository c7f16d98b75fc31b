#!/usr/bin/env bash
# sync.jobs and the order between tables (issue 17): legacy's payroll_history has a foreign key to
# employees, and the runbook lists the payments first. The foreign key, read from legacy's
# catalog, makes processed_payments wait for new_employees (without it the payments of the 39
# employees hired since cutover would be refused), while tax_changes runs beside new_employees on
# a stream of its own. Plan shows the order; a foreign key cycle orders nothing and is warned about.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/integration/sync/common.sh"
sync_setup

# NOT VALID: legacy's own history holds payments of employees it never had; new rows are checked
rb_psql "$LEG" "alter table payroll_history add constraint payroll_history_emp_fk
                foreign key (emp_id) references employees (employee_id) not valid"
# the payments table first, then the employees, then the tax changes; two at a time
awk '/^    - name: / { cur = $3 } !cur { head = head $0 "\n"; next } { blk[cur] = blk[cur] $0 "\n" }
     END { printf "%s%s%s%s", head, blk["processed_payments"], blk["new_employees"], blk["tax_changes"] }' \
  "$RB" >"$T/rb.new"
mv "$T/rb.new" "$RB"
sed -i 's/^  to: legacy$/  to: legacy\n  jobs: 2/' "$RB"
assert_eq "processed_payments new_employees tax_changes" "$(grep -oP '^    - name: \K.*' "$RB" | paste -sd' ')" \
  "the runbook lists the payments first"
assert_exit 0 "$RB_BIN" -f "$RB" validate

assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_OUT" "starts once these have finished: sync/new_employees (foreign key 'payroll_history_emp_fk' on 'legacy')" \
  "plan: the payments wait for the employees, by legacy's foreign key"
assert_contains "$RB_OUT" "one of up to 2 tables in flight at once (sync.jobs)" "plan: two at a time"
assert_exit 0 "$RB_BIN" -f "$RB" plan --offline
assert_not_contains "$RB_OUT" "starts once these have finished" "offline, no catalog: no foreign key order"

assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "two jobs" --yes
assert_contains "$RB_OUT" "40 at risk: 39 inserted, 1 updated, 0 unchanged"
assert_contains "$RB_OUT" "900 at risk: 900 inserted, 0 updated, 0 unchanged"
assert_contains "$RB_OUT" "35 at risk: 0 inserted, 33 updated, 2 unchanged"
journal=$(ls "$T"/state/runs/*/journal.jsonl)
order=$(jq -r 'select(.phase == "sync" and (.event == "started" or .event == "done")) | .action + " " + .event' "$journal" | paste -sd,)
echo "# $order"
[[ $order == "sync/new_employees started,sync/tax_changes started,"* ]] ||
  rb_fail "new_employees and tax_changes did not start together: $order"
rb_ok "new_employees and tax_changes started together, on two streams"
[[ $order == *"sync/new_employees done"*"sync/processed_payments started"* ]] ||
  rb_fail "processed_payments started before new_employees was done: $order"
rb_ok "processed_payments started only once new_employees was done"
assert_eq 900 "$(rb_psql "$LEG" "select count(*) from payroll_history p join employees e on e.employee_id = p.emp_id where p.payment_id > 2000")" \
  "every payment since cutover has its employee"
assert_eq 3 "$(rb_psql "$LEG" "select count(*) from rollbackctl_ledger")" "one ledger row per table"
assert_eq 0 "$(rb_psql "$LEG" "select count(*) from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())")" \
  "the sync lock ends with the run"
run_json
assert_eq 975 "$(jq '.facts.records_recovered' "$T/status.json")" "the run's totals count every stream's table"

# --- two foreign keys the other way round too: a cycle orders nothing, and says so --------------------
rb_psql "$LEG" "alter table employees add column last_payment_id bigint;
                alter table employees add constraint employees_last_payment_fk
                foreign key (last_payment_id) references payroll_history (payment_id) not valid"
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_ERR" "would make sync/new_employees and sync/processed_payments wait for each other: it does not order them" \
  "the foreign key closing the cycle is named"
assert_contains "$RB_OUT" "starts once these have finished: sync/new_employees (foreign key 'payroll_history_emp_fk' on 'legacy')" \
  "the first one still orders them"
