#!/usr/bin/env bash
# Rows the sync and compare could lose or double without a word (review findings):
# - a row stamped exactly at the cutover instant belongs to the rows at risk: synced, compared,
#   and a legacy copy that differs is reported
# - a composite key with a NULL part never conflicts in a unique index, so the upsert would insert
#   that row again on every run: the sync refuses it (naming the row and column, nothing applied)
#   and compare counts it as missing instead of matching a legacy row with the same "(2,)" text
# - money with more decimals than the legacy NUMERIC(p,s) column holds is refused (COPY into the
#   target's type rounded it without a word); integers and sources of the same scale go through
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg

T=$(rb_tmpdir)
NEW=$(rb_createdb enew)
LEG=$(rb_createdb elegacy)
rb_psql "$NEW" - <<'SQL'
create table pay (id int primary key, emp int, period text, amount numeric(12,2), created_at timestamptz not null);
insert into pay values
  (1, 1, '2026-11', 10.00, '2026-11-02'),
  (2, 2, '2026-11', 20.00, '2026-11-01T00:00:00Z'),          -- exactly at cutover
  (3, 3, '2026-10', 30.00, '2026-10-31T23:59:59.999999Z');    -- just before: history
create table per (emp int, period text, amount numeric(12,2), created_at timestamptz not null);
insert into per values (1, 'a', 1.00, '2026-11-02'), (2, null, 2.00, '2026-11-02');
SQL
rb_psql "$LEG" - <<'SQL'
create table hist (payment_id int primary key, emp_id int, period varchar(7), amount numeric(12,2));
insert into hist values (3, 3, '2026-10', 30.00);
create table per_hist (emp int, period text, amount numeric(12,2), unique (emp, period));
SQL
RB=$T/runbook.yaml
write_runbook() {
  cat >"$RB" <<YAML
$(rb_runbook_pg sync-edges "$T/state" "$NEW" "$LEG")
sync:
  from: new
  to: legacy
  tables:
    - name: $1
      critical: true
      source: { table: $2, changed_since: created_at }
      target: { table: $3, key: [$4] }
      columns: { $5 }
verify:
  - name: rows
    compare: { table: $1 }
YAML
}

# --- the cutover instant ---------------------------------------------------------------------
write_runbook payments pay hist payment_id "payment_id: id, emp_id: emp, period: period, amount: amount"
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_OUT" "rows at risk: 2" "plan counts the row stamped at cutover"
assert_exit 1 "$RB_BIN" -f "$RB" verify
assert_contains "$RB_OUT" "2 rows changed since cutover: 2 missing in legacy" "compare checks the cutover row too"
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "cutover instant" --yes
assert_contains "$RB_OUT" "2 at risk: 2 inserted, 0 updated, 0 unchanged"
assert_eq "1|10.00,2|20.00,3|30.00" "$(rb_psql "$LEG" "select string_agg(payment_id || '|' || amount, ',' order by payment_id) from hist")" \
  "the row at cutover reached legacy; history untouched"
rb_psql "$LEG" "update hist set amount = 20.01 where payment_id = 2"
assert_exit 1 "$RB_BIN" -f "$RB" verify
assert_contains "$RB_OUT" "0 missing in legacy, 1 differ" "a changed cutover row is reported"

# --- a NULL part in a composite key ------------------------------------------------------------
write_runbook periods per per_hist "emp, period" "emp: emp, period: period, amount: amount"
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "null key part" --yes
assert_contains "$RB_ERR" "row 2 of the source query has a NULL key column 'period'" "the row and column are named"
assert_eq 0 "$(rb_psql "$LEG" "select count(*) from per_hist")" "nothing half-applied"
rb_psql "$NEW" "update per set period = 'b' where period is null"
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "fixed" --yes
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "again" --yes
assert_contains "$RB_OUT" "2 at risk: 0 inserted, 0 updated, 2 unchanged"
assert_eq 2 "$(rb_psql "$LEG" "select count(*) from per_hist")" "no row doubled"

# compare: legacy holds (2,NULL) and new (2,NULL): no key, so missing, never a match
rb_psql "$NEW" "update per set period = null where emp = 2"
rb_psql "$LEG" "update per_hist set period = null where emp = 2"
assert_exit 1 "$RB_BIN" -f "$RB" -o json verify
assert_eq 1 "$(jq '.checks[0].compare.missing_in_legacy' <<<"$RB_OUT")" "a NULL key part counts as missing"
assert_eq 1 "$(jq '.checks[0].compare.null_keys' <<<"$RB_OUT")" "and as a NULL key"
# gaps counts that row under manual_entry but cannot list it: it says so
assert_exit 0 "$RB_BIN" -f "$RB" gaps
assert_contains "$RB_OUT" "1 rows to enter in legacy (manual_entry), 0 to review"
assert_contains "$RB_ERR" "'periods': 1 source row with a NULL key counted under manual_entry but not listed" \
  "the unlisted row is explained"
assert_exit 0 "$RB_BIN" -f "$RB" -o json gaps
assert_eq 1 "$(jq '.tables[0].null_keys' <<<"$RB_OUT")" "and counted in JSON"

# --- money the target would round ------------------------------------------------------------------
rb_psql "$NEW" - <<'SQL'
create table fees (id int primary key, amount numeric(16,4), rate float8, units int, created_at timestamptz not null);
insert into fees values (1, 10.0000, 1.5, 3, '2026-11-02'), (2, 20.0050, 2, 4, '2026-11-02');
SQL
rb_psql "$LEG" "create table fee_hist (id int primary key, amount numeric(12,2), rate numeric(12,2), units numeric(5,0))"
write_runbook fees fees fee_hist id "id: id, amount: amount, rate: rate, units: units"
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "rounding" --yes
assert_contains "$RB_ERR" "column 'amount' (source expression 'amount'): value 20.0050 of the source row with id=2 does not fit numeric(12,2) in 'fee_hist' exactly" \
  "the value, the row and the column are named"
assert_eq 0 "$(rb_psql "$LEG" "select count(*) from fee_hist")" "nothing applied"
rb_psql "$NEW" "update fees set amount = 20.0100 where id = 2"
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "exact" --yes
assert_eq "1|10.00|1.50|3,2|20.01|2.00|4" "$(rb_psql "$LEG" "select string_agg(concat_ws('|', id, amount, rate, units), ',' order by id) from fee_hist")" \
  "exact values land"
rb_psql "$NEW" "update fees set rate = 2.125 where id = 2"
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "float" --yes
assert_contains "$RB_ERR" "column 'rate' (source expression 'rate'): value 2.125 of the source row with id=2" "a float is checked too"
assert_eq "2.00" "$(rb_psql "$LEG" "select rate from fee_hist where id = 2")" "legacy kept its exact value"
rb_psql "$NEW" "update fees set rate = 2, amount = 12345678901.5 where id = 2"
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "too large" --yes
assert_contains "$RB_ERR" "column 'amount' (source expression 'amount'): value 12345678901.5000 of the source row with id=2 does not fit numeric(12,2)" \
  "a value too large for the column is named as well"

# scales below zero and above the precision (PostgreSQL 15): 12300 fits numeric(5,-2), 12345 does not
rb_psql "$NEW" "create table lumps (id int primary key, amount numeric, tiny numeric, created_at timestamptz not null);
  insert into lumps values (1, 12300, 0.004, '2026-11-02'), (2, 4500, 0.01, '2026-11-02')"
rb_psql "$LEG" "create table lump_hist (id int primary key, amount numeric(5,-2), tiny numeric(2,3))"
write_runbook lumps lumps lump_hist id "id: id, amount: amount, tiny: tiny"
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "odd scales" --yes
assert_eq "1|12300|0.004,2|4500|0.010" "$(rb_psql "$LEG" "select string_agg(concat_ws('|', id, amount, tiny), ',' order by id) from lump_hist")"
rb_psql "$NEW" "update lumps set amount = 12345 where id = 2"
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "rounded to hundreds" --yes
assert_contains "$RB_ERR" "value 12345 of the source row with id=2 does not fit numeric(5,-2)"
