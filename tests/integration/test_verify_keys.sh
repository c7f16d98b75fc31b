#!/usr/bin/env bash
# compare beyond integer keys, and with legacy history interleaved with the synced keys:
# - a tax table where legacy holds every employee and only a scattered tenth changed since cutover
#   (legacy keys inside the source's key bounds that the source lacks are history, not differences)
# - a text key whose order differs between collations ('B' < 'a' in "C", not in en_US), with an
#   accented key, and legacy-only keys interleaved
# - a composite key (emp_id, period), and a legacy enum column compared as text
# - a source without a primary key holding a NULL key: counted as missing
# Clean data passes; each damage is found exactly; damage to history only is ignored.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg

T=$(rb_tmpdir)
NEW=$(rb_createdb knew)
LEG=$(rb_createdb klegacy)
rb_psql "$NEW" - <<'SQL'
create table employee_tax_info (employee_id int primary key, filing_status text, allowances int, updated_at timestamptz);
insert into employee_tax_info select g, case when g % 3 = 0 then 'married' else 'single' end, g % 5,
  case when g % 10 = 0 then timestamptz '2026-11-03' else timestamptz '2026-01-01' end from generate_series(1, 1000) g;
create table codes (code text primary key, label text, changed_at timestamptz);
insert into codes values ('a', 'lower a', '2026-11-02'), ('B', 'upper b', '2026-11-02'), ('é', 'e acute', '2026-11-02'),
  ('Z10', 'z ten', '2026-11-02'), ('z2', 'z two', '2026-11-02'), ('old', 'before', '2026-10-01');
create table rates (emp_id int, period text, rate numeric(8,4), status text, changed timestamptz, primary key (emp_id, period));
insert into rates select e, p, e * 1.5 + length(p), case when e % 2 = 0 then 'active' else 'closed' end, '2026-11-05'
  from generate_series(1, 30) e, unnest(array['2026-10', '2026-11']) p;
create table notes (id int, txt text, changed timestamptz);
insert into notes select g, 'n' || g, '2026-11-09' from generate_series(1, 600) g;
SQL
rb_psql "$LEG" - <<'SQL'
create table employee_tax (emp_id int primary key, filing_status varchar(20), allowances smallint);
insert into employee_tax select g, case when g % 3 = 0 then 'married' else 'single' end, g % 5 from generate_series(1, 1000) g;
-- history rows differ from new (legacy never saw the pre-cutover changes made in new): outside the check
update employee_tax set allowances = 9 where emp_id % 10 = 5;
create table codes (code varchar(20) primary key, label text);
insert into codes values ('a', 'lower a'), ('B', 'upper b'), ('é', 'e acute'), ('Z10', 'z ten'), ('z2', 'z two'),
  ('C', 'legacy only'), ('b', 'legacy only'), ('Z1', 'legacy only');
create type rate_status as enum ('active', 'closed');
create table rates (emp_id int, period varchar(7), rate numeric(6,2), status rate_status, primary key (emp_id, period));
insert into rates select e, p, e * 1.5 + length(p), (case when e % 2 = 0 then 'active' else 'closed' end)::rate_status
  from generate_series(1, 30) e, unnest(array['2026-10', '2026-11']) p;
insert into rates values (99, '2025-01', 1, 'active');
create table notes (id int primary key, txt text);
insert into notes select g, 'n' || g from generate_series(1, 600) g;
SQL
RB=$T/runbook.yaml
cat >"$RB" <<YAML
$(rb_runbook_pg verify-keys "$T/state" "$NEW" "$LEG")
sync:
  from: new
  to: legacy
  tables:
    - name: tax_changes
      source: { table: employee_tax_info, changed_since: updated_at }
      target: { table: employee_tax, key: [emp_id] }
      columns: { emp_id: employee_id, filing_status: filing_status, allowances: allowances }
    - name: codes
      source: { table: codes, changed_since: changed_at }
      target: { table: codes, key: [code] }
      columns: { code: code, label: label }
    - name: rates
      source: { table: rates, changed_since: changed }
      target: { table: rates, key: [emp_id, period] }
      columns: { emp_id: emp_id, period: period, rate: rate, status: status }
    - name: notes
      source: { table: notes, changed_since: changed }
      target: { table: notes, key: [id] }
      columns: { id: id, txt: txt }
verify:
  - name: Tax
    compare: { table: tax_changes }
  - name: Codes
    compare: { table: codes }
  - name: Rates
    compare: { table: rates }
  - name: Notes
    compare: { table: notes }
YAML
verify() { assert_exit "$1" "$RB_BIN" -f "$RB" -o json verify; cp "$RB_OUT_FILE" "$T/r.json"; }
chk() { jq -c ".checks[] | select(.name == \"$1\") | $2" "$T/r.json"; }

verify 0
assert_eq 100 "$(chk Tax .compare.source_rows)" "the changed tenth compared"
assert_eq 5 "$(chk Codes .compare.source_rows)" "codes since cutover"
assert_eq 60 "$(chk Rates .compare.source_rows)" "rates since cutover"

# a synced row changed: found; a history row changed: ignored
rb_psql "$LEG" "update employee_tax set allowances = 7 where emp_id = 500; update employee_tax set filing_status = 'x' where emp_id = 501"
verify 1
assert_eq '[{"key":{"emp_id":"500"},"columns":[{"column":"allowances","new":"0","legacy":"7"}]}]' \
  "$(chk Tax .compare.differences)" "exactly the synced row, not the history row"
assert_eq 0 "$(chk Tax .compare.missing_in_legacy)" "history keys are not missing rows"
rb_psql "$LEG" "update employee_tax set allowances = 0 where emp_id = 500"

# text keys: an accented key missing and a case-sensitive label change
rb_psql "$LEG" "delete from codes where code = 'é'; update codes set label = 'Upper b' where code = 'B'"
verify 1
assert_eq '[{"code":"é"}]' "$(chk Codes '[.compare.missing[].key]')" "the accented key is missing"
assert_eq '[{"code":"B"}]' "$(chk Codes '[.compare.differences[].key]')" "'B' differs, legacy-only 'b' and 'C' ignored"
rb_psql "$LEG" "insert into codes values ('é', 'e acute'); update codes set label = 'upper b' where code = 'B'"

# composite key and an enum: a changed status and a missing (emp_id, period)
rb_psql "$LEG" "update rates set status = 'active' where emp_id = 7 and period = '2026-11'; delete from rates where emp_id = 8 and period = '2026-10'"
verify 1
assert_eq '[{"emp_id":"7","period":"2026-11"}]' "$(chk Rates '[.compare.differences[].key]')" "composite key named"
assert_eq '[{"column":"status","new":"closed","legacy":"active"}]' "$(chk Rates '.compare.differences[0].columns')" \
  "enum compared as text"
assert_eq '[{"emp_id":"8","period":"2026-10"}]' "$(chk Rates '[.compare.missing[].key]')" "missing composite key"
assert_eq true "$(chk Tax .passed)" "the other tables still pass"
rb_psql "$LEG" "update rates set status = 'closed' where emp_id = 7 and period = '2026-11'; insert into rates values (8, '2026-10', 19, 'active')"
verify 0

# a source row with a NULL key can never be matched: missing, whatever else differs
rb_psql "$NEW" "insert into notes values (null, 'orphan', '2026-11-09')"
rb_psql "$LEG" "update notes set txt = 'changed' where id = 17"
verify 1
assert_eq '{"missing":1,"null_keys":1,"differing":1,"listed":[]}' \
  "$(chk Notes '{missing: .compare.missing_in_legacy, null_keys: .compare.null_keys, differing: .compare.differing, listed: .compare.missing}')" \
  "the NULL key counted once as missing"
rb_psql "$NEW" "delete from notes where id is null"
rb_psql "$LEG" "update notes set txt = 'n17' where id = 17"
verify 0

# a mapped column legacy lacks is a check that cannot run, named in the report
sed -i 's/label: label }/label: label, nope: label }/' "$RB"
verify 1
assert_contains "$(chk Codes .summary)" "column 'nope' not found in legacy table 'codes'"
assert_eq true "$(chk Rates .passed)" "the next check still ran"
