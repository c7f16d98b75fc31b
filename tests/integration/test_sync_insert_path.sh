#!/usr/bin/env bash
# The apply step's two ways (issue 17, the floor): rows whose keys none of the target holds yet
# go in with a plain INSERT ... SELECT from the stage; a table where some keys are there already
# takes the upsert, with the inserted/updated/unchanged counts right; a duplicate key in the
# source rows, which the plain INSERT meets as a unique violation (23505), still reaches the
# upsert and its named error (21000). Which statement wrote the rows is seen from the server:
# a statement trigger on each target table records whether the INSERT that fired it had an
# ON CONFLICT clause (current_query()); the attempt rolled back to the savepoint leaves no trace.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/integration/sync/common.sh"
sync_setup

rb_psql "$LEG" - <<'SQL'
create table apply_log (n serial primary key, tbl text not null, upsert boolean not null);
create function log_apply() returns trigger language plpgsql as $$
begin
  insert into apply_log (tbl, upsert) values (TG_TABLE_NAME, current_query() ~ 'ON CONFLICT');
  return null;
end $$;
create trigger log_apply after insert on employees for each statement execute function log_apply();
create trigger log_apply after insert on payroll_history for each statement execute function log_apply();
create trigger log_apply after insert on employee_tax for each statement execute function log_apply();
-- a composite key, named the way a hostile runbook may: the pre-check joins on every part, quoted
create table "Pay Lines" ("Emp Id" int not null, payment_id bigint not null, amount numeric(12,2),
                          primary key ("Emp Id", payment_id));
create trigger log_apply after insert on "Pay Lines" for each statement execute function log_apply();
SQL
cat >>"$RB" <<'YAML'
    - name: pay_lines
      critical: true
      source: { table: employee_payments, changed_since: created_at, where: "status = 'completed'" }
      target: { table: Pay Lines, key: [Emp Id, payment_id] }
      columns: { Emp Id: employee_id, payment_id: id, amount: gross_amount }
YAML
# how_applied TABLE: the last statement that wrote TABLE's rows, "insert" or "upsert"
how_applied() {
  rb_psql "$LEG" "select case when upsert then 'upsert' else 'insert' end from apply_log where tbl = '$1' order by n desc limit 1"
}
log_mark() { rb_psql "$LEG" "select coalesce(max(n), 0) from apply_log"; }
applied_since() { rb_psql "$LEG" "select count(*) from apply_log where tbl = '$1' and n > $2"; }
pay_rows() {
  table_md5 "$LEG" "select payment_id, emp_id, pay_date, gross_pay, net_pay, fed_tax from payroll_history where payment_id > 2000 and payment_id <> ${inside:-0}"
}
want_rows=$(table_md5 "$NEW" "select id, employee_id, pay_date, gross_amount, net_amount, federal_tax from employee_payments where status = 'completed' and created_at >= '2026-11-01T00:00:00Z'")
# A legacy payment whose key lies among the new ones but is none of them (a pending payment, left
# out by `where:`): the key range overlaps, so the pre-check's second part decides, still "none".
inside=$(rb_psql "$NEW" "select id from employee_payments where status <> 'completed' and created_at >= '2026-11-01T00:00:00Z'
  and id > (select min(id) from employee_payments where status = 'completed' and created_at >= '2026-11-01T00:00:00Z')
  order by id limit 1")
[[ -n $inside ]] || rb_fail "no pending payment among the completed ones"
rb_psql "$LEG" "alter table payroll_history disable trigger log_apply;
  insert into payroll_history values ($inside, 1, '2026-11-02', 1.00, 1.00, 0.10);
  alter table payroll_history enable trigger log_apply"
history=$(rb_psql "$LEG" "select count(*) from payroll_history")

# --- plan: the pre-check, the plain INSERT, then the upsert -----------------------------------
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_OUT" 'SELECT CASE WHEN EXISTS (SELECT 1 FROM (SELECT "payment_id" FROM pg_temp.rollbackctl_stage LIMIT 1000) AS s JOIN "payroll_history" AS t ON s."payment_id" = t."payment_id") THEN true WHEN NOT EXISTS (SELECT 1 FROM "payroll_history" AS t WHERE t."payment_id" BETWEEN (SELECT "payment_id" FROM pg_temp.rollbackctl_stage ORDER BY 1 LIMIT 1) AND (SELECT "payment_id" FROM pg_temp.rollbackctl_stage ORDER BY 1 DESC LIMIT 1)) THEN false ELSE EXISTS (SELECT 1 FROM pg_temp.rollbackctl_stage AS s JOIN "payroll_history" AS t ON s."payment_id" = t."payment_id") END' \
  "plan shows the pre-check on the key: a sample, the range, then every staged key"
assert_contains "$RB_OUT" 'SELECT EXISTS (SELECT 1 FROM pg_temp.rollbackctl_stage AS s JOIN "Pay Lines" AS t ON s."Emp Id" = t."Emp Id" AND s."payment_id" = t."payment_id")' \
  "the pre-check joins on every key column, quoted"
assert_contains "$RB_OUT" 'INSERT INTO "payroll_history" ("payment_id", "emp_id", "pay_date", "gross_pay", "net_pay", "fed_tax") SELECT "payment_id", "emp_id", "pay_date", "gross_pay", "net_pay", "fed_tax" FROM pg_temp.rollbackctl_stage' \
  "plan shows the plain INSERT"
assert_contains "$RB_OUT" "-- no: the rows are all new" "plan says when the INSERT runs"
assert_contains "$RB_OUT" "ON CONFLICT (\"payment_id\") DO UPDATE SET" "plan still shows the upsert"
assert_exit 0 "$RB_BIN" -f "$RB" -o json plan
target_sql() { jq -c --arg n "sync/$1" '.actions[] | select(.name == $n) | .fields.sql.target' <<<"$RB_OUT"; }
assert_eq 3 "$(target_sql processed_payments | jq '[.[] | select(startswith("SELECT CASE WHEN EXISTS") or startswith("INSERT INTO \"payroll_history\"") or startswith("WITH upsert AS"))] | length')" \
  "fields: sql.target holds the pre-check, the INSERT and the upsert"
assert_eq '"SAVEPOINT rollbackctl_upsert"' "$(target_sql processed_payments | jq '.[(map(startswith("SELECT CASE WHEN EXISTS")) | index(true)) - 1]')" \
  "fields: the pre-check follows the savepoint"
assert_eq 0 "$(rb_psql "$LEG" "select count(*) from apply_log")" "plan wrote nothing"

# --- first execute: payments and pay lines are all new, employees and tax rows partly there ----
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "insert path" --yes
assert_contains "$RB_OUT" "900 at risk: 900 inserted, 0 updated, 0 unchanged"
assert_contains "$RB_OUT" "40 at risk: 39 inserted, 1 updated, 0 unchanged"
assert_contains "$RB_OUT" "35 at risk: 0 inserted, 33 updated, 2 unchanged"
assert_eq insert "$(how_applied payroll_history)" "no payment key in legacy yet (one inside their range): the plain INSERT"
assert_eq insert "$(how_applied 'Pay Lines')" "no pay line yet: the plain INSERT (composite key)"
assert_eq upsert "$(how_applied employees)" "one employee already in legacy: the upsert"
assert_eq upsert "$(how_applied employee_tax)" "tax rows already in legacy: the upsert"
run_json
assert_eq 900 "$(res processed_payments inserted)" "journaled result: inserted"
assert_eq 0 "$(res processed_payments updated)" "journaled result: updated"
assert_eq 0 "$(res processed_payments unchanged)" "journaled result: unchanged"
assert_eq "$want_rows" "$(pay_rows)" "legacy holds exactly the source's payments"
assert_eq $((history + 900)) "$(rb_psql "$LEG" "select count(*) from payroll_history")" "history kept, payments added"
assert_eq 900 "$(rb_psql "$LEG" "select count(*) from \"Pay Lines\"")" "every pay line"
assert_eq "900|900|0|0" "$(rb_psql "$LEG" "select rows, inserted, updated, unchanged from rollbackctl_ledger where table_name = 'processed_payments'")" \
  "the ledger row counts the INSERT's rows"
assert_eq "Employee 101|L|2020-04-11" "$(rb_psql "$LEG" "select full_name, status, hire_date from employees where employee_id = 101")" \
  "the upsert corrected the stale employee"

# --- some keys there: 100 payments lost in legacy, 10 corrected in new ------------------------
rb_psql "$LEG" "delete from payroll_history where payment_id in (select payment_id from payroll_history where payment_id > 2000 and payment_id <> $inside order by payment_id limit 100)"
rb_psql "$NEW" "update employee_payments set gross_amount = gross_amount + 1 where id in (select id from employee_payments where status = 'completed' and created_at >= '2026-11-01T00:00:00Z' order by id desc limit 10)"
want_rows=$(table_md5 "$NEW" "select id, employee_id, pay_date, gross_amount, net_amount, federal_tax from employee_payments where status = 'completed' and created_at >= '2026-11-01T00:00:00Z'")
mark=$(log_mark)
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "upsert path" --yes
assert_contains "$RB_OUT" "900 at risk: 100 inserted, 10 updated, 790 unchanged"
assert_eq upsert "$(how_applied payroll_history)" "keys already in legacy: the upsert"
assert_eq 1 "$(applied_since payroll_history "$mark")" "one statement wrote the payments"
assert_eq "$want_rows" "$(pay_rows)" "legacy holds exactly the source's payments again"
assert_eq "900|100|10|790" "$(rb_psql "$LEG" "select rows, inserted, updated, unchanged from rollbackctl_ledger where table_name = 'processed_payments' order by applied_at desc limit 1")" \
  "the ledger row of the upsert"
assert_contains "$RB_OUT" "900 at risk: 0 inserted, 10 updated, 890 unchanged" "pay lines: the upsert, amounts corrected"

# --- a duplicate key in the source, none of them in the target ----------------------------------
# The plain INSERT fails on the second copy of the key (23505); the upsert then names it (21000).
sed -i -e '/- name: pay_lines/,$d' "$RB"
sed -i -e 's|^        payment_id: id$|        payment_id: "1000000 + id / 2"|' "$RB"
grep -q '1000000 + id / 2' "$RB" || rb_fail "the runbook edit did not apply"
before=$(table_md5 "$LEG" "select * from payroll_history")
ledger_before=$(rb_psql "$LEG" "select count(*) from rollbackctl_ledger where table_name = 'processed_payments'")
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "duplicate" --yes
assert_contains "$RB_OUT$RB_ERR" "duplicate key in the source rows: payment_id=100" "the duplicate is named"
assert_contains "$RB_OUT$RB_ERR" "appears 2 times"
assert_contains "$RB_OUT$RB_ERR" "$RB:$(grep -n 'key: \[payment_id\]' "$RB" | cut -d: -f1):" "names the key's runbook line"
assert_not_contains "$RB_OUT$RB_ERR" "23505" "the unique violation of the INSERT is not the error"
assert_not_contains "$RB_OUT$RB_ERR" "insert into 'payroll_history' failed"
assert_eq "$before" "$(table_md5 "$LEG" "select * from payroll_history")" "legacy unchanged"
assert_eq 0 "$(rb_psql "$LEG" "select count(*) from payroll_history where payment_id > 1000000")" "no row of the failed table"
assert_eq "$ledger_before" "$(rb_psql "$LEG" "select count(*) from rollbackctl_ledger where table_name = 'processed_payments'")" \
  "no ledger row for the failed table"
