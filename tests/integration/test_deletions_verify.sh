#!/usr/bin/env bash
# Deletions since cutover wired into verify and plan (issue 14, detect): a compare check counts and
# lists the legacy rows new no longer has and still passes ("...; 8 legacy rows deleted in new");
# with `deletions.scope` legacy's old history is left out, with tombstones the rows are exact
# ("7 deleted in new since cutover, 1 never migrated") and carry deleted_at; `fail_on_deleted:
# true` fails the check (exit 1) on rows deleted in new but never on rows never migrated; the
# {{gaps}} fact of a run counts deleted_in_new; plan shows per table "N changed since cutover + M
# deleted in new" and the first 5 deleted keys, in key order. verify and plan change nothing.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg
T=$(rb_tmpdir)
NEW=$(rb_createdb delv_new)
LEG=$(rb_createdb delv_leg)

# new: payments 1..20 (11..20 since cutover), a trigger recording deletions in deleted_rows;
# legacy: the same 20 rows (synced or migrated) plus 900, legacy's own 2019 history
rb_psql "$NEW" - >/dev/null <<'SQL'
create table employee_payments (id bigint primary key, gross numeric(12,2) not null, pay_date date not null,
                                created_at timestamptz not null);
insert into employee_payments select g, 1000 + g, date '2026-10-01' + g,
  case when g > 10 then timestamptz '2026-11-05Z' else timestamptz '2026-09-01Z' end from generate_series(1, 20) g;
create table deleted_rows (table_name text not null, old_row jsonb not null, deleted_at timestamptz not null);
create function record_deletion() returns trigger language plpgsql as $$
begin insert into deleted_rows values (TG_TABLE_NAME, to_jsonb(old), now()); return old; end $$;
create trigger employee_payments_deleted after delete on employee_payments
  for each row execute function record_deletion();
-- a tombstone of another table with a colliding id: `where` keeps it out
insert into deleted_rows values ('employees', '{"id": 900}', now());
SQL
rb_psql "$LEG" - >/dev/null <<'SQL'
create table payroll_history (payment_id bigint primary key, gross_pay numeric(12,2), pay_date date);
insert into payroll_history select g, 1000 + g, date '2026-10-01' + g from generate_series(1, 20) g;
insert into payroll_history values (900, 12.00, date '2019-03-31');
SQL
# deleted in new since cutover: 3 and 8 (migrated before), 11..15 (changed since cutover)
rb_psql "$NEW" "delete from employee_payments where id in (3, 8, 11, 12, 13, 14, 15)" >/dev/null
legacy_md5() { rb_psql "$LEG" "select md5(string_agg(t::text, ',' order by payment_id)) from payroll_history t"; }
before=$(legacy_md5)

write_runbook() { # $1: deletions: lines of the sync table (or empty), $2: fail_on_deleted
  cat >"$T/runbook.yaml" <<EOF
$(rb_runbook_pg deletions-verify "$T/state" "$NEW" "$LEG")
sync:
  from: new
  to: legacy
  tables:
    - name: processed_payments
      source: { table: employee_payments, changed_since: created_at }
      target: { table: payroll_history, key: [payment_id] }
      columns: { payment_id: id, gross_pay: gross, pay_date: pay_date }
$1
verify:
  - name: payments match
    compare: { table: processed_payments, fail_on_deleted: $2 }
EOF
}
RB=$T/runbook.yaml
check() { jq -c ".checks[0] | $1" <<<"$RB_OUT"; }
keys() { jq -r '[.checks[0].deletions.rows[] | "\(.action):\(.key.payment_id)"] | join(" ")' <<<"$RB_OUT"; }

# --- no deletions: map: every legacy row in scope, not exact; listed, the check passes -------------
write_runbook "" false
assert_exit 0 "$RB_BIN" -f "$RB" verify
assert_contains "$RB_OUT" "PASS  payments match [compare" "deletions alone do not fail the check"
assert_contains "$RB_OUT" "5 rows changed since cutover, all match in legacy; 8 legacy rows deleted in new" \
  "the summary counts the legacy rows new no longer has (900, legacy's history, among them)"
assert_contains "$RB_OUT" "in legacy, not in new (8 listed of 8):" "the text report lists them"
assert_contains "$RB_OUT" "payment_id='900': deleted_in_new" "a key line of the text report"
assert_exit 0 "$RB_BIN" -f "$RB" -o json verify
assert_eq '[false,21,8,0,false]' "$(check '[.deletions.exact, .deletions.legacy_rows, .deletions.deleted_in_new, .deletions.never_migrated, .fail_on_deleted]')" \
  "-o json: the check's deletions counts"
assert_eq "deleted_in_new:3 deleted_in_new:8 deleted_in_new:11 deleted_in_new:12 deleted_in_new:13 deleted_in_new:14 deleted_in_new:15 deleted_in_new:900" \
  "$(keys)" "-o json: the deleted keys, in key order"

# --- plan: per table changed + deleted, and the first 5 deleted keys --------------------------------
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_OUT" "rows at risk: 5 changed since cutover + 8 deleted in new" "plan counts deletions as at risk"
assert_contains "$RB_OUT" "deleted in new, not synced (first 5 of 8): payment_id='3'; payment_id='8'; payment_id='11'; payment_id='12'; payment_id='13'" \
  "plan lists the first 5 deleted keys in key order"

# --- scope leaves legacy's 2019 history out; tombstones make it exact; fail_on_deleted fails --------
write_runbook "      deletions:
        scope: \"pay_date >= date '2025-01-01'\"
        tombstones:
          table: deleted_rows
          key: { payment_id: \"(old_row->>'id')::bigint\" }
          deleted_at: deleted_at
          where: \"table_name = 'employee_payments'\"" true
assert_exit 1 "$RB_BIN" -f "$RB" verify
assert_contains "$RB_OUT" "FAIL  payments match [compare" "fail_on_deleted: rows deleted in new fail the check"
assert_contains "$RB_OUT" "5 rows changed since cutover, all match in legacy; 7 deleted in new since cutover, 0 never migrated" \
  "scope: 900 (2019) is out; tombstones: exact"
assert_exit 1 "$RB_BIN" -f "$RB" -o json verify
assert_eq '[true,20,7,0,true,false]' "$(check '[.deletions.exact, .deletions.legacy_rows, .deletions.deleted_in_new, .deletions.never_migrated, .fail_on_deleted, .passed]')" \
  "-o json: exact counts within the scope"
assert_eq "7" "$(check '[.deletions.rows[] | select(.deleted_at != null)] | length')" "each deleted key carries its deleted_at"
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_OUT" "rows at risk: 5 changed since cutover + 7 deleted in new" "plan: within the scope"

# --- tombstones without scope: 900 is never migrated; that alone never fails the check --------------
# 3, 8, 11..15 come back in new (stamped before cutover, same values): only 900 is left
rb_psql "$NEW" "insert into employee_payments select g, 1000 + g, date '2026-10-01' + g, timestamptz '2026-09-01Z'
  from unnest(array[3, 8, 11, 12, 13, 14, 15]) g; delete from deleted_rows where table_name = 'employee_payments'" >/dev/null
write_runbook "      deletions:
        tombstones:
          table: deleted_rows
          key: { payment_id: \"(old_row->>'id')::bigint\" }
          deleted_at: deleted_at
          where: \"table_name = 'employee_payments'\"" true
assert_exit 0 "$RB_BIN" -f "$RB" verify
assert_contains "$RB_OUT" "PASS  payments match [compare" "rows never migrated never fail the check"
assert_contains "$RB_OUT" "; 0 deleted in new since cutover, 1 never migrated" "the summary says so"
assert_contains "$RB_OUT" "payment_id='900': never_migrated" "listed as never migrated"
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_OUT" "rows at risk: 5 changed since cutover + 0 deleted in new (and 1 legacy row never migrated, not at risk)" \
  "plan: never migrated is not at risk"
assert_not_contains "$RB_OUT" "deleted in new, not synced" "plan: no sample when nothing is deleted"

# --- a run's {{gaps}} fact counts rows deleted in new --------------------------------------------
rb_psql "$NEW" "delete from employee_payments where id in (3, 16)" >/dev/null
write_runbook "" false
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "deletions verify test" --yes
journal=$(ls -d "$T"/state/runs/*)/journal.jsonl
assert_eq "3" "$(jq -c 'select(.event == "fact" and .data.key == "gaps") | .data.value' "$journal" | tail -n 1)" \
  "{{gaps}}: 3 legacy rows deleted in new (3, 16 and 900), nothing missing or differing"
assert_eq "3 false" "$(jq -r 'select(.action == "verify/payments-match" and .event == "done") | "\(.data.deletions.deleted_in_new) \(.data.fail_on_deleted)"' "$journal" | tail -n 1)" \
  "the check's journaled result has the deletions counts"

# --- a failing deletions query fails the check, as a failing comparison does ------------------------
write_runbook "      deletions:
        scope: \"no_such_column > 0\"" false
assert_exit 1 "$RB_BIN" -f "$RB" verify
assert_contains "$RB_OUT$RB_ERR" "no_such_column" "the error names what went wrong"
assert_contains "$RB_OUT" "FAIL  payments match [compare" "the check fails"

assert_eq "$before" "$(legacy_md5)" \
  "legacy as it was: verify and plan read only, execute's sync re-sent equal rows and deleted nothing"

# --- legacy keys below all of new's: counted on legacy alone, the first 100 listed ------------------
# (issue 17) new holds 1..20 but 3 and 16; legacy also holds -999..-1, history new never had
rb_psql "$LEG" "insert into payroll_history select -g, 1, date '2019-01-01' from generate_series(1, 999) g" >/dev/null
write_runbook "" false
assert_exit 0 "$RB_BIN" -f "$RB" -o json verify
assert_eq '[1020,1002,100]' "$(check '[.deletions.legacy_rows, .deletions.deleted_in_new, (.deletions.rows | length)]')" \
  "every legacy row counted, 999 + 3 deletions (3, 16, 900), 100 listed"
assert_eq "deleted_in_new:-999 deleted_in_new:-900" \
  "$(jq -r '[.checks[0].deletions.rows[] | "\(.action):\(.key.payment_id)"] | "\(.[0]) \(.[99])"' <<<"$RB_OUT")" \
  "the first 100 in key order"
fetched=$(check '.deletions.keys_fetched')
((fetched < 200)) || rb_fail "$fetched keys fetched: the 999 keys below new's were streamed"
rb_ok "$fetched keys fetched for 1002 deletions"
assert_exit 0 "$RB_BIN" -f "$RB" -o json gaps
assert_eq "1002 -999 900" "$(jq -r '[.gaps[] | select(.action == "deleted_in_new") | .key.payment_id | tonumber] |
  "\(length) \(min) \(max)"' "$RB_OUT_FILE")" "gaps -o json lists every one"
assert_exit 0 "$RB_BIN" -f "$RB" gaps
assert_eq 1002 "$(grep -c '^processed_payments  *deleted_in_new ' "$RB_OUT_FILE" || true)" "gaps, text: one line each, streamed"
rb_psql "$LEG" "delete from payroll_history where payment_id < 0" >/dev/null

# --- one pass for both questions: a scope holding no legacy row leaves the comparison whole ------
assert_exit 0 "$RB_BIN" -f "$RB" -o json verify
compared=$(check '[.compare.source_rows, .compare.missing_in_legacy, .compare.differing]')
write_runbook "      deletions:
        scope: \"payment_id < 0\"" false
assert_exit 0 "$RB_BIN" -f "$RB" -o json verify
assert_eq "$compared" "$(check '[.compare.source_rows, .compare.missing_in_legacy, .compare.differing]')" \
  "the comparison's counts do not depend on the deletions' scope"
assert_eq '[0,0]' "$(check '[.deletions.legacy_rows, .deletions.deleted_in_new]')" "an empty scope: nothing"
rb_ok
