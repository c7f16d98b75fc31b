#!/usr/bin/env bash
# Deletions since cutover (issue 14, detect): after a sync, rows deleted in new are the keys legacy
# holds that new no longer has, and `gaps` lists exactly those (deleted_in_new) in text, -o json
# and --csv: synced ones and old migrated ones, an integer key, quoted upper-case legacy names, a
# composite key with NULLs around it; nothing deleted lists nothing; a differing bucket is the only
# one streamed (20,000 keys, 3 deleted: keys_fetched far below); `deletions.scope` narrows legacy's
# rows; with a tombstone table (written by a trigger in new) deleted keys carry deleted_at and a
# legacy-only row new never had is never_migrated. gaps changes nothing.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/integration/sync/common.sh"
sync_setup
rb_psql "$NEW" - <"$SF/nasty_new.sql"
rb_psql "$LEG" - <"$SF/nasty_legacy.sql"

# a composite key, quoted upper-case names in legacy, NULLs in the other columns;
# and 20,000 keys migrated before cutover (in legacy already, never synced again)
rb_psql "$NEW" - <<'SQL'
create table rates (emp_id int, period text, rate numeric(8,2), note text, created_at timestamptz not null,
                    primary key (emp_id, period));
insert into rates select e, p, 10 + e, case when e % 2 = 0 then null else '' end, '2026-11-02'
  from generate_series(1, 9) e, unnest(array['2026-10', '2026-11']) p;
create table shifts (emp_id int, day date, hours numeric(4,1), created_at timestamptz not null, primary key (emp_id, day));
insert into shifts select e, date '2026-11-01' + d, 8, '2026-11-02' from generate_series(1, 100) e, generate_series(0, 29) d;
create table big_new (id int primary key, v text, created_at timestamptz not null);
insert into big_new select g, 'v' || g, '2026-01-01' from generate_series(1, 20000) g;
SQL
rb_psql "$LEG" - <<'SQL'
create table "LEGACY"."RATE HIST" ("EmpId" int, "Period" varchar(7), "Rate" numeric(8,2), "Note" text,
                                   primary key ("EmpId", "Period"));
create table shift_hist (emp_id int, day date, hours numeric(4,1), primary key (emp_id, day));
create table big_hist (id int primary key, v text);
insert into big_hist select g, 'v' || g from generate_series(1, 20000) g;
SQL

write_runbook() { # $1: the processed_payments table's deletions: map (YAML lines), or empty
  cat >"$T/runbook.yaml.in" <<EOF
version: 1
name: deletions-test
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
$1
    - name: nasty
      source: { table: Src Schema.Pay-Record, changed_since: Changed At }
      target: { table: '"LEGACY"."PAY.RECORD S"', key: [Id] }
      columns: { Id: '"ID"', Order: '"select"', Note: note, maybe: maybe, AMOUNT: amount }
    - name: rates
      source: { table: rates, changed_since: created_at }
      target: { table: '"LEGACY"."RATE HIST"', key: [EmpId, Period] }
      columns: { EmpId: emp_id, Period: period, Rate: rate, Note: note }
    - name: shifts
      source: { table: shifts, changed_since: created_at }
      target: { table: shift_hist, key: [emp_id, day] }
      columns: { emp_id: emp_id, day: day, hours: hours }
    - name: big
      source: { table: big_new, changed_since: created_at }
      target: { table: big_hist, key: [id] }
      columns: { id: id, v: v }
EOF
  sync_runbook "$T/runbook.yaml.in"
}
write_runbook ""
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "deletions test" --yes

deleted() { # TABLE: the deleted keys gaps -o json listed, "action:key" sorted, space-separated
  jq -r --arg t "$1" '.gaps[] | select(.table == $t and (.action == "deleted_in_new" or .action == "never_migrated"))
                      | "\(.action):\(.key | [.[]] | map(. // "NULL") | join("/"))"' "$J" | sort | paste -sd' '
}
gaps_json() { assert_exit 0 "$RB_BIN" -f "$RB" -o json gaps; J=$T/gaps.json; cp "$RB_OUT_FILE" "$J"; }

# --- nothing deleted: nothing listed (but legacy's own row 100 of nasty, never in new) ---------------
gaps_json
assert_eq "" "$(deleted processed_payments)" "no deletion in processed_payments"
assert_eq "" "$(deleted rates)" "no deletion in rates"
assert_eq "" "$(deleted big)" "no deletion in big"
assert_eq "deleted_in_new:100" "$(deleted nasty)" "legacy-only history: deleted_in_new as far as can be told"
assert_eq 0 "$(jq '.tables[] | select(.table == "big") | .deletions.buckets_differing' "$J")" \
  "equal buckets: nothing streamed"
assert_eq 0 "$(jq '.tables[] | select(.table == "big") | .deletions.keys_fetched' "$J")" "no key fetched"
assert_eq 20000 "$(jq '.tables[] | select(.table == "big") | .deletions.legacy_rows' "$J")" "every legacy row hashed"

# --- deletions in new: synced ones, old migrated ones, composite keys, quoted names ------------------
rb_psql "$NEW" - <<'SQL'
delete from employee_payments where id in (15, 1999, 2503, 2501);   -- 15, 1999 pre-cutover; 2503, 2501 synced
delete from employee_payments where id = 20;                        -- pending: never in legacy
delete from "Src Schema"."Pay-Record" where "ID" = 3;
delete from rates where (emp_id, period) in ((7, '2026-11'), (2, '2026-10'));
delete from big_new where id in (5, 10007, 19999);
update employee_payments set pay_date = pay_date where id = 16;     -- changed, still there
delete from shifts where emp_id = 40 and day = '2026-11-07';
SQL
rb_psql "$LEG" "update shift_hist set hours = 9 where emp_id = 60 and day = '2026-11-20'"
before=$(table_md5 "$LEG" "select * from payroll_history")
gaps_json
assert_eq "deleted_in_new:15 deleted_in_new:1999 deleted_in_new:2501 deleted_in_new:2503" \
  "$(deleted processed_payments)" "exactly the deleted payments, synced and old"
assert_eq "deleted_in_new:100 deleted_in_new:3" "$(deleted nasty)" "quoted upper-case names"
assert_eq "deleted_in_new:2/2026-10 deleted_in_new:7/2026-11" "$(deleted rates)" "composite key"
assert_eq '{"EmpId":"2","Period":"2026-10"}' \
  "$(jq -c '.gaps[] | select(.table == "rates" and .action == "deleted_in_new") | .key' "$J" | head -1)" \
  "composite key by column, in key text order"
assert_eq "deleted_in_new:10007 deleted_in_new:19999 deleted_in_new:5" "$(deleted big)" "big: the 3 deleted"
# 3,000 rows with a composite key: a few of many buckets differ, on both kinds of drill-down
assert_eq "deleted_in_new:40/2026-11-07" "$(deleted shifts)" "composite key, many buckets: the deleted one"
assert_eq '{"emp_id":"60","day":"2026-11-20"}' \
  "$(jq -c '.gaps[] | select(.table == "shifts" and .action == "review") | .key' "$J")" "and compare's review"
[[ $(jq '.tables[] | select(.table == "shifts") | .deletions.buckets_differing' "$J") -lt 11 ]] ||
  rb_fail "shifts: every bucket differs, the bucket list went untested"
assert_eq 4 "$(jq '.tables[] | select(.table == "processed_payments") | .deleted_in_new' "$J")" "counted"
assert_eq false "$(jq '.tables[] | select(.table == "processed_payments") | .deletions.exact' "$J")" \
  "without tombstones: not exact"
assert_eq 'null' "$(jq '.gaps[] | select(.table == "processed_payments" and .key.payment_id == "15") | .deleted_at' "$J")" \
  "no deleted_at without tombstones"
read -r nb fetched < <(jq -r '.tables[] | select(.table == "big") | "\(.deletions.buckets_differing) \(.deletions.keys_fetched)"' "$J")
[[ $nb -ge 1 && $nb -le 3 ]] || rb_fail "big: $nb buckets differing, expected 1 to 3"
((fetched > 0 && fetched < 2000)) || rb_fail "big: $fetched keys fetched: not only the differing buckets"
rb_ok "big: $nb differing buckets, $fetched of 40,000 keys streamed"
assert_eq "manual_entry=0 review=0" \
  "$(jq -r '.tables[] | select(.table == "processed_payments") | "manual_entry=\(.manual_entry) review=\(.review)"' "$J")" \
  "a deletion is neither a row to enter nor to review"

assert_exit 0 "$RB_BIN" -f "$RB" gaps
assert_contains "$RB_OUT" "0 rows to enter in legacy (manual_entry), 1 to review" "the compare's summary, as before"
assert_contains "$RB_OUT" "12 rows legacy holds that new no longer has (deleted_in_new), 0 never migrated"
assert_contains "$(grep 'payment_id=2503 ' "$RB_OUT_FILE")" "deleted_in_new" "text: a line per deleted key"
assert_contains "$(grep 'EmpId=7 Period=2026-11' "$RB_OUT_FILE")" "legacy holds it, new does not"
assert_eq 4 "$(grep -c '^processed_payments  *deleted_in_new ' "$RB_OUT_FILE")" "text: four payments"
# the text lists each table's deletions in numeric key order
assert_eq "5 10007 19999" "$(grep '^big .*deleted_in_new' "$RB_OUT_FILE" | sed -E 's/.*id=([0-9]+).*/\1/' | paste -sd' ')" \
  "text: numeric order"

assert_exit 0 "$RB_BIN" -f "$RB" gaps --csv --table rates
C=$RB_OUT_FILE
assert_eq "table,action,key,column,new,legacy" "$(head -1 "$C")" "csv header unchanged"
assert_eq "rates,deleted_in_new,EmpId=2 Period=2026-10,,,
rates,deleted_in_new,EmpId=7 Period=2026-11,,," "$(grep deleted_in_new "$C")" "csv: one line per deleted key"
/usr/bin/python3 - "$C" <<'PY' || rb_fail "csv does not parse back"
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
assert all(len(r) == 6 for r in rows), "every line has 6 fields"
PY
assert_eq "$before" "$(table_md5 "$LEG" "select * from payroll_history")" "gaps deleted nothing in legacy"

# --- scope and tombstones (the loader's deletions: keys) -----------------------------------------------
write_runbook '      deletions: { scope: "pay_date >= date '"'"'2026-03-01'"'"'" }'
if ! "$RB_BIN" -f "$RB" validate >/dev/null 2>"$T/validate.err"; then
  grep -q "unknown key 'deletions'" "$T/validate.err" || { cat "$T/validate.err" >&2; rb_fail "validate"; }
  rb_ok "the loader does not know deletions: yet (scope and tombstones untested)"
  exit 0
fi
gaps_json
# 15 was paid on 2026-01-03: outside the scope; 1999 on 2026-07-20, 2503/2501 in September: inside
assert_eq "deleted_in_new:1999 deleted_in_new:2501 deleted_in_new:2503" "$(deleted processed_payments)" \
  "the scope leaves legacy's older rows out"
assert_eq "deleted_in_new:100 deleted_in_new:3" "$(deleted nasty)" "another table's scope is its own"

# a trigger in new records every deleted payment (key + deleted_at), as payroll systems do
rb_psql "$NEW" - <<'SQL'
create table deleted_rows (table_name text not null, old_row jsonb not null, deleted_at timestamptz not null);
create function record_deletion() returns trigger language plpgsql as $$
begin
  insert into deleted_rows values (tg_table_name, to_jsonb(old), now());
  return old;
end $$;
create trigger record_deletion after delete on employee_payments for each row execute function record_deletion();
insert into deleted_rows values ('employee_payments', '{"id": 1999}', '2026-11-20 10:00:00+00'),
                                ('employee_payments', '{"id": 15}', '2026-11-21 10:00:00+00'),
                                ('other_table', '{"id": 2503}', '2026-11-20 10:00:00+00'),
                                ('employee_payments', '{"id": 2501}', '2026-10-01 10:00:00+00');  -- before cutover
delete from employee_payments where id in (2603, 30);   -- 2603 synced; 30 pending: never in legacy
SQL
# 1777777 is legacy's own (history that was never migrated): no tombstone
rb_psql "$LEG" "insert into payroll_history values (1777777, 1, '2026-06-01', 1, 1, 0)"
write_runbook '      deletions:
        tombstones:
          table: deleted_rows
          key: { payment_id: "(old_row->>'"'"'id'"'"')::bigint" }
          deleted_at: deleted_at
          where: "table_name = '"'"'employee_payments'"'"'"'
gaps_json
assert_eq "deleted_in_new:15 deleted_in_new:1999 deleted_in_new:2603 never_migrated:1777777 never_migrated:2501 never_migrated:2503" \
  "$(deleted processed_payments)" "tombstones tell deleted_in_new from never_migrated (where and cutover kept)"
assert_eq '"2026-11-20 10:00:00+00"' \
  "$(jq '.gaps[] | select(.table == "processed_payments" and .key.payment_id == "1999") | .deleted_at' "$J")" \
  "deleted_at from the tombstone"
assert_eq 'null' \
  "$(jq '.gaps[] | select(.table == "processed_payments" and .key.payment_id == "1777777") | .deleted_at' "$J")" \
  "never_migrated: no deleted_at"
assert_eq "3 3 true" \
  "$(jq -r '.tables[] | select(.table == "processed_payments") | "\(.deleted_in_new) \(.never_migrated) \(.deletions.exact)"' "$J")" \
  "counted apart, exact"
assert_exit 0 "$RB_BIN" -f "$RB" gaps --csv --table processed_payments
assert_contains "$(cat "$RB_OUT_FILE")" "processed_payments,deleted_in_new,payment_id=1999,deleted_at,2026-11-20 10:00:00+00," \
  "csv: deleted_at in the new column"
assert_contains "$(cat "$RB_OUT_FILE")" "processed_payments,never_migrated,payment_id=1777777,,," "csv: never_migrated"
assert_exit 0 "$RB_BIN" -f "$RB" gaps --table processed_payments
assert_contains "$RB_OUT" "3 rows legacy holds that new no longer has (deleted_in_new), 3 never migrated"
assert_contains "$(grep 'payment_id=2603 ' "$RB_OUT_FILE")" "deleted in new at '" "text: when"
assert_contains "$(grep 'payment_id=1777777 ' "$RB_OUT_FILE")" "never_migrated" "text: never_migrated"

# a tombstone key that does not give the key's type: a clear error, exit 1, nothing changed
write_runbook '      deletions:
        tombstones: { table: deleted_rows, key: { payment_id: "old_row->>'"'"'nope'"'"'" }, deleted_at: nope_at }'
assert_exit 1 "$RB_BIN" -f "$RB" gaps --table processed_payments
assert_contains "$RB_ERR" "unable to find the deletions of 'processed_payments'" "names the table"
assert_eq "$before" "$(table_md5 "$LEG" "select * from payroll_history where payment_id <> 1777777")" \
  "legacy unchanged"
