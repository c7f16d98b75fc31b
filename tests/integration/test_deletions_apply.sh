#!/usr/bin/env bash
# Deletions since cutover applied (issue 14, "Apply, only when asked"), against real PostgreSQL:
# policy report changes nothing and counts them lost; plan shows what delete would remove and its
# statement; a table over deletions.max is refused with nothing changed (not even its upsert);
# delete removes exactly the rows deleted in new (an integer key, quoted upper-case names, within
# a scope) and soft_delete marks them (a composite key), in the table's own transaction with the
# ledger row; a second run changes nothing; with tombstones, a legacy row never migrated stays;
# SIGKILL while the deletions are applied, then resume: applied once.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/integration/sync/common.sh"
sync_setup
rb_psql "$NEW" - <"$SF/nasty_new.sql"
rb_psql "$LEG" - <"$SF/nasty_legacy.sql"
rb_psql "$NEW" - <<'SQL'
create table rates (emp_id int, period text, rate numeric(8,2), note text, created_at timestamptz not null,
                    primary key (emp_id, period));
insert into rates select e, p, 10 + e, case when e % 2 = 0 then null else '' end, '2026-11-02'
  from generate_series(1, 9) e, unnest(array['2026-10', '2026-11']) p;
SQL
# legacy marks void rates with a flag, as many legacy payroll schemas do
rb_psql "$LEG" - <<'SQL'
create table "LEGACY"."RATE HIST" ("EmpId" int, "Period" varchar(7), "Rate" numeric(8,2), "Note" text,
                                   "Voided" char(1) not null default 'N', primary key ("EmpId", "Period"));
SQL

# write_runbook PAYMENTS NASTY RATES: each table's deletions: map (flow YAML), or {}
write_runbook() {
  cat >"$T/runbook.yaml.in" <<EOF
version: 1
name: deletions-apply-test
cutover: 2026-11-01T00:00:00Z
state_dir: @STATE@
targets:
  new: { driver: postgres, conninfo: "@NEW@" }
  legacy: { driver: postgres, conninfo: "@LEGACY@" }
sync:
  from: new
  to: legacy
  tables:
    - name: processed_payments
      source: { table: employee_payments, changed_since: created_at, where: "status = 'completed'" }
      target: { table: payroll_history, key: [payment_id] }
      columns: { payment_id: id, emp_id: employee_id, pay_date: pay_date, gross_pay: gross_amount,
                 net_pay: net_amount, fed_tax: federal_tax }
      deletions: $1
    - name: nasty
      source: { table: Src Schema.Pay-Record, changed_since: Changed At }
      target: { table: '"LEGACY"."PAY.RECORD S"', key: [Id] }
      columns: { Id: '"ID"', Order: '"select"', Note: note, maybe: maybe, AMOUNT: amount }
      deletions: $2
    - name: rates
      source: { table: rates, changed_since: created_at }
      target: { table: '"LEGACY"."RATE HIST"', key: [EmpId, Period] }
      columns: { EmpId: emp_id, Period: period, Rate: rate, Note: note }
      deletions: $3
EOF
  sync_runbook "$T/runbook.yaml.in"
}
payments_md5() { table_md5 "$LEG" "select * from payroll_history"; }
rates_md5() { table_md5 "$LEG" "select * from \"LEGACY\".\"RATE HIST\""; }
nasty_md5() { table_md5 "$LEG" "select * from \"LEGACY\".\"PAY.RECORD S\""; }
legacy_md5() { echo "$(payments_md5) $(rates_md5) $(nasty_md5)"; }
has_payment() { rb_psql "$LEG" "select count(*) from payroll_history where payment_id = $1"; }

write_runbook "{}" "{}" "{}"
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "first sync" --yes
rb_psql "$NEW" - <<'SQL'
delete from employee_payments where id in (15, 2501, 2503);   -- 15 migrated before cutover; 2501, 2503 synced
delete from employee_payments where id = 20;                  -- pending: never in legacy
delete from "Src Schema"."Pay-Record" where "ID" = 3;
delete from rates where (emp_id, period) in ((7, '2026-11'), (2, '2026-10'));
update employee_payments set gross_amount = gross_amount + 1 where id = 2502;   -- changed since cutover
SQL
for id in 15 2501 2503; do assert_eq 1 "$(has_payment $id)" "legacy holds payment $id"; done
before=$(legacy_md5)

# --- policy report: found, counted at risk and lost, nothing deleted -----------------------------
write_runbook "{ policy: report }" "{}" "{}"
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "report" --yes
assert_contains "$RB_OUT$RB_ERR" "3 deleted in new, reported, not applied" "the table's result says so"
for id in 15 2501 2503; do assert_eq 1 "$(has_payment $id)" "report: payment $id still in legacy"; done
assert_eq "4428.74" "$(rb_psql "$LEG" "select gross_pay from payroll_history where payment_id = 2502")" \
  "the upsert ran as usual"
run_json
assert_eq "report 3 0 3" "$(jq -r '.actions[] | select(.name == "sync/processed_payments") | .result.deletions
  | "\(.policy) \(.found) \(.applied) \(.not_applied)"' "$T/status.json")" "result: policy, found, applied, not applied"
assert_eq 0 "$(res processed_payments deleted)" "result: 0 deleted"
rep=$(ls -t "$T"/state/runs/*/report.json | head -1)
assert_eq "3 0" "$(jq -r '.sync_tables[] | select(.table == "processed_payments") | "\(.deletions_found) \(.deleted)"' "$rep")" \
  "report: deletions found and applied per table"
lost=$(jq '.metrics.records_lost' "$rep")
assert_eq 3 "$lost" "records lost: the 3 reported, not applied"
prom=$(cat "$T"/state/metrics.prom)
assert_contains "$prom" 'rollbackctl_sync_deletions_not_applied{runbook="deletions-apply-test",table="processed_payments"} 3' \
  "metrics: not applied per table"
assert_contains "$prom" 'rollbackctl_records_lost{runbook="deletions-apply-test"} 3' "metrics: records lost"
before=$(legacy_md5)

# --- plan shows what delete would remove; over the cap it would be refused -----------------------------
write_runbook "{ policy: delete, max: 10 }" "{}" "{}"
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_OUT" "would be deleted (first 3 of 3): payment_id='15'; payment_id='2501'; payment_id='2503'" \
  "plan: how many and which"
assert_contains "$RB_OUT" "WITH rb_deleted AS (DELETE FROM \"payroll_history\" WHERE (\"payment_id\") IN (SELECT \"payment_id\" FROM jsonb_populate_recordset(NULL::\"payroll_history\", \$1::jsonb)) RETURNING 1)" \
  "plan: the statement"
write_runbook "{ policy: delete, max: 2 }" "{}" "{}"
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_ERR" "3 legacy rows deleted in 'new' exceed deletions.max (2): the table would be refused" "plan warns"

# --- the cap: refused before anything changes, the upsert included -----------------------------------
rb_psql "$NEW" "update employee_payments set gross_amount = gross_amount + 1 where id = 2502"
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "cap" --yes
assert_contains "$RB_ERR" "sync table 'processed_payments': 3 legacy rows of 'payroll_history' are deleted in 'new', more than deletions.max (2): refusing the table before changing anything (first keys: payment_id='15'; payment_id='2501'; payment_id='2503')" \
  "names the count, the cap and the keys"
assert_contains "$RB_ERR" "rollbackctl gaps" "and where to look"
assert_eq "$before" "$(legacy_md5)" "legacy unchanged: no deletion, no upsert"
run_id=$("$RB_BIN" -f "$RB" -o json status | jq -r .run_id)
assert_eq 0 "$(rb_psql "$LEG" "select count(*) from rollbackctl_ledger where run_id = '$run_id'")" "no ledger row"

# --- delete and soft_delete applied, with the ledger row ------------------------------------------------
write_runbook "{ policy: delete, max: 3 }" "{ scope: '\"Id\" < 100', policy: delete, max: 5 }" \
  "{ policy: soft_delete, soft_delete: { column: Voided, value: 'Y' }, max: 5 }"
others=$(table_md5 "$LEG" "select * from payroll_history where payment_id not in (15, 2501, 2502, 2503)")
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "apply deletions" --yes
assert_contains "$RB_OUT$RB_ERR" "3 deleted in new, 3 deleted" "payments: deleted"
assert_contains "$RB_OUT$RB_ERR" "2 deleted in new, 2 marked void" "rates: marked void"
for id in 15 2501 2503; do assert_eq 0 "$(has_payment $id)" "payment $id deleted from legacy"; done
assert_eq "4429.74" "$(rb_psql "$LEG" "select gross_pay from payroll_history where payment_id = 2502")" \
  "the upsert in the same run"
assert_eq "$others" "$(table_md5 "$LEG" "select * from payroll_history where payment_id not in (15, 2501, 2502, 2503)")" \
  "every other payment untouched"
assert_eq "1 100" "$(rb_psql "$LEG" "select string_agg(\"Id\"::text, ' ' order by \"Id\") from \"LEGACY\".\"PAY.RECORD S\" where \"Id\" in (1, 3, 100)")" \
  "quoted upper-case names: 3 deleted, 100 (outside the scope) kept"
assert_eq "2/2026-10 7/2026-11" \
  "$(rb_psql "$LEG" "select string_agg(\"EmpId\" || '/' || \"Period\", ' ' order by 1) from \"LEGACY\".\"RATE HIST\" where \"Voided\" = 'Y'")" \
  "composite key: exactly the two rates marked void"
assert_eq 16 "$(rb_psql "$LEG" "select count(*) from \"LEGACY\".\"RATE HIST\" where \"Voided\" = 'N'")" "the rest not"
run_id=$("$RB_BIN" -f "$RB" -o json status | jq -r .run_id)
assert_eq "nasty|1|1 processed_payments|3|3 rates|2|2" \
  "$(rb_psql "$LEG" "select table_name || '|' || deleted || '|' || deletions_found from rollbackctl_ledger where run_id = '$run_id' order by 1" | paste -sd' ')" \
  "the ledger row records them, in the same transaction"
run_json
assert_eq 3 "$(res processed_payments deleted)" "result: 3 deleted"
rep=$(ls -t "$T"/state/runs/*/report.json | head -1)
assert_eq 0 "$(jq '.metrics.records_lost' "$rep")" "records lost: none"
assert_contains "$(cat "$T"/state/metrics.prom)" \
  'rollbackctl_sync_rows_deleted{runbook="deletions-apply-test",table="rates"} 2' "metrics: rows deleted per table"
assert_exit 0 "$RB_BIN" -f "$RB" -o json gaps
assert_eq 0 "$(jq '[.gaps[] | select(.action == "deleted_in_new")] | length' "$RB_OUT_FILE")" \
  "gaps: nothing deleted in new is left live in legacy (marked void rows agree)"

# --- a second run changes nothing ---------------------------------------------------------------------
after=$(legacy_md5)
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "again" --yes
assert_contains "$RB_OUT$RB_ERR" "0 deleted in new, 0 deleted" "nothing more to delete"
assert_contains "$RB_OUT$RB_ERR" "0 deleted in new, 0 marked void" "nothing more to mark"
assert_eq "$after" "$(legacy_md5)" "legacy byte for byte the same"

# --- with tombstones: only rows deleted in new since cutover; a never-migrated row stays -------------
rb_psql "$NEW" - <<'SQL'
create table deleted_rows (table_name text not null, old_row jsonb not null, deleted_at timestamptz not null);
create function record_deletion() returns trigger language plpgsql as $$
begin
  insert into deleted_rows values (tg_table_name, to_jsonb(old), now());
  return old;
end $$;
create trigger record_deletion after delete on employee_payments for each row execute function record_deletion();
delete from employee_payments where id in (2603, 2604, 2605);
SQL
rb_psql "$LEG" "insert into payroll_history values (1777777, 1, '2026-06-01', 1, 1, 0)"   # legacy's own
TOMB='tombstones: { table: deleted_rows, key: { payment_id: "(old_row->>'"'"'id'"'"')::bigint" }, deleted_at: deleted_at, where: "table_name = '"'"'employee_payments'"'"'" }'
write_runbook "{ policy: delete, max: 3, $TOMB }" "{ scope: '\"Id\" < 100', policy: delete, max: 5 }" "{}"

# --- SIGKILL while the deletions are applied, then resume ---------------------------------------------
# each legacy delete takes a second: time to find the statement running and kill the process
rb_psql "$LEG" - <<'SQL'
create function slow_delete() returns trigger language plpgsql as $$ begin perform pg_sleep(1); return old; end $$;
create trigger slow_delete before delete on payroll_history for each row execute function slow_delete();
SQL
"$RB_BIN" -f "$RB" execute --reason "kill while deleting" --yes >"$T/kill.log" 2>&1 &
pid=$!
seen=0
for _ in $(seq 1500); do
  kill -0 "$pid" 2>/dev/null || break
  if [[ $(rb_psql "$LEG" "select count(*) from pg_stat_activity where datname = current_database()
           and application_name like 'rollbackctl%' and state = 'active' and query like 'WITH rb_deleted%'") -ge 1 ]]; then
    kill -9 "$pid" && seen=1
    break
  fi
  sleep 0.01
done
wait "$pid" 2>/dev/null || true
((seen == 1)) || { cat "$T/kill.log" >&2; rb_fail "the delete statement was never seen running"; }
rb_ok "killed with SIGKILL while the deletions were applied"
for id in 2603 2604 2605; do assert_eq 1 "$(has_payment $id)" "killed mid-table: payment $id still there"; done
assert_exit 0 "$RB_BIN" -f "$RB" resume
assert_contains "$RB_OUT$RB_ERR" "3 deleted in new, 3 deleted" "resume applied the table from scratch"
for id in 2603 2604 2605; do assert_eq 0 "$(has_payment $id)" "payment $id deleted once resumed"; done
assert_eq 1 "$(has_payment 1777777)" "never migrated (no tombstone): kept"
run_id=$("$RB_BIN" -f "$RB" -o json status | jq -r .run_id)
assert_eq "processed_payments|3|3" \
  "$(rb_psql "$LEG" "select table_name || '|' || deleted || '|' || deletions_found from rollbackctl_ledger where run_id = '$run_id' and table_name = 'processed_payments'")" \
  "one ledger row for the interrupted table"
journal=$(ls -t "$T"/state/runs/*/journal.jsonl | head -1)
assert_eq 1 "$(grep '"event":"done"' "$journal" | grep -c '"action":"sync/processed_payments"')" "journaled done once"

# --- policy delete needs DELETE on the target: the pre-flight says so before anything changes ----------
role=rb_del_$$
rb_psql "$LEG" - <<SQL
create role $role login;
grant usage on schema "LEGACY" to $role;
grant select, insert, update on payroll_history to $role;
grant select, insert, update, delete on all tables in schema "LEGACY" to $role;
grant select, insert on rollbackctl_ledger to $role;
SQL
drop_role() { rb_psql "$LEG" "drop owned by $role" && rb_psql postgres "drop role if exists $role"; } >/dev/null 2>&1
rb_on_exit drop_role
rb_psql "$NEW" "delete from employee_payments where id = 2606"
sed -i "s|\(legacy: { driver: postgres, conninfo: \"[^\"]*\)\"|\1 user=$role\"|" "$RB"
before=$(legacy_md5)
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "no delete privilege" --yes
assert_contains "$RB_ERR" "role '$role' may not SELECT, INSERT, UPDATE and DELETE target table 'payroll_history' in 'legacy' (deletions.policy is delete)" \
  "the missing privilege named"
assert_contains "$RB_ERR" "GRANT SELECT, INSERT, UPDATE, DELETE ON \"payroll_history\" TO $role" "with the grant to give"
assert_eq "$before" "$(legacy_md5)" "nothing changed"
