#!/usr/bin/env bash
# compare must not pass a value that legacy's column cannot hold: casting to the legacy type
# rounds numeric scale (10.0050 to 10.01), timestamp precision (.4s away) and cuts varchar
# ('abcdef' to 'abc') without an error, so the cast source value used to equal what legacy holds.
# Values the cast keeps exactly (10.0000 as 10.00, a short char(n) value) still match. A legacy
# domain over numeric(12,2) is compared as its base type: 10 in new is 10.00 there, no difference.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg

T=$(rb_tmpdir)
NEW=$(rb_createdb lnew)
LEG=$(rb_createdb llegacy)
rb_psql "$NEW" - <<'SQL'
create table pay (id int primary key, code text, flag text, amount numeric(12,4), at timestamp(6), fee numeric, created_at timestamptz);
insert into pay values
  (1, 'abcdef', 'y', 10.0050, '2026-11-02 10:00:00.4', 0.125, '2026-11-02'),
  (2, 'x', 'n', 1.0000, '2026-11-02 10:00:00', 10, '2026-11-02'),
  (3, 'abc', 'y', 2.5000, '2026-11-02 11:00:00', 2.5, '2026-11-02');
SQL
rb_psql "$LEG" - <<'SQL'
create domain amount as numeric(12,2) check (value >= 0);
create table hist (id int primary key, code varchar(3), flag char(3), amount numeric(12,2), at timestamp(0), fee amount);
insert into hist values
  (1, 'abc', 'y', 10.01, '2026-11-02 10:00:00', 0.13),
  (2, 'x', 'n', 1.00, '2026-11-02 10:00:00', 10),
  (3, 'abc', 'y', 2.50, '2026-11-02 11:00:00', 2.5);
SQL
RB=$T/runbook.yaml
cat >"$RB" <<YAML
$(rb_runbook_pg verify-lossy "$T/state" "$NEW" "$LEG")
sync:
  from: new
  to: legacy
  tables:
    - name: pays
      source: { table: pay, changed_since: created_at }
      target: { table: hist, key: [id] }
      columns: { id: id, code: code, flag: flag, amount: amount, at: at, fee: fee }
verify:
  - name: rows
    compare: { table: pays }
YAML

assert_exit 1 "$RB_BIN" -f "$RB" -o json verify
c=$(jq -c '.checks[0].compare' <<<"$RB_OUT")
assert_eq 1 "$(jq '.differing' <<<"$c")" "only the row legacy cannot hold differs"
assert_eq 0 "$(jq '.missing_in_legacy' <<<"$c")"
assert_eq '{"id":"1"}' "$(jq -c '.differences[0].key' <<<"$c")"
assert_eq '[{"column":"code","new":"abcdef","legacy":"abc"},{"column":"amount","new":"10.0050","legacy":"10.01"},{"column":"at","new":"2026-11-02 10:00:00.4","legacy":"2026-11-02 10:00:00"},{"column":"fee","new":"0.125","legacy":"0.13"}]' \
  "$(jq -c '.differences[0].columns' <<<"$c")" "each lossy column with both values"

# Exact values pass: legacy now holds what new has to the digit it can show.
rb_psql "$NEW" "update pay set code = 'abc', amount = 10.0100, at = '2026-11-02 10:00:00', fee = 0.13 where id = 1"
assert_exit 0 "$RB_BIN" -f "$RB" verify
assert_contains "$RB_OUT" "3 rows changed since cutover, all match in legacy"

# equal: amounts compare by value (120 = 120.00), but text that is no number as PostgreSQL prints
# one ('0042', ' 7') is a code and compares as text.
cat >>"$RB" <<'YAML'
  - name: amount
    equal:
      new: { target: new, sql: "select sum(amount) from pay" }
      legacy: { target: legacy, sql: "select sum(amount)::float8 from hist" }
  - name: code
    equal:
      new: { target: new, sql: "select '0042'" }
      legacy: { target: legacy, sql: "select '42'" }
  - name: padded
    equal:
      new: { target: new, sql: "select ' 7'" }
      legacy: { target: legacy, sql: "select '7'" }
YAML
assert_exit 1 "$RB_BIN" -f "$RB" -o json verify
assert_eq '[true,true,false,false]' "$(jq -c '[.checks[].passed]' <<<"$RB_OUT")" \
  "13.5100 equals 13.51; '0042' is not '42', ' 7' is not '7'"
