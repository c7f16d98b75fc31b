#!/usr/bin/env bash
# Hostile identifiers (issue 15): schema, table and column names holding double and single quotes,
# semicolons, `--`, spaces and non-ASCII, on both sides of a sync (source and target tables, their
# columns, the key, changed_since) and a sync table name like them, through execute (sync), verify
# (compare) and gaps against real PostgreSQL. The rows arrive, a damaged row is found and named,
# and nothing else is executed: a table `victim` in both databases, which each name tries to drop,
# is still there with its row, and no other object appears.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg
export NO_COLOR=1

T=$(rb_tmpdir)
NEW=$(rb_createdb hnew)
LEG=$(rb_createdb hlegacy)
# the names as the catalog spells them (inside "..." a " is written "")
rb_psql "$NEW" - <<'SQL'
create table victim (x int); insert into victim values (1);
create schema "pay""; DROP TABLE victim; --";
create table "pay""; DROP TABLE victim; --"."src'; DROP TABLE victim; -- ñ" (
  id int primary key,
  "amt'; DROP TABLE victim; --" numeric(12,2),
  "名前 ""x""" text,
  "changed ""at""; --" timestamptz);
insert into "pay""; DROP TABLE victim; --"."src'; DROP TABLE victim; -- ñ" values
  (1, 10.50, 'Zoë ''quoted'' "double"', '2026-11-02'),
  (2, 20.25, 'semi; colon -- dash', '2026-11-03'),
  (3, 30.00, 'before cutover', '2026-10-01'),
  (4, 40.75, '$(touch x) `y`', '2026-11-04');
SQL
rb_psql "$LEG" - <<'SQL'
create table victim (x int); insert into victim values (1);
create table "tgt""; DROP TABLE victim; -- é" (
  "key""; DROP TABLE victim; --" int primary key,
  "amount'); DROP TABLE victim; --" numeric(12,2),
  "nom ""ü"" ; x" text);
insert into "tgt""; DROP TABLE victim; -- é" values (1, 1.00, 'old');
SQL
objects() { # every relation and schema outside the catalogs but rollbackctl's own tables
  rb_psql "$1" "select string_agg(n, ' | ' order by n) from (
    select nspname || '.' || relname as n from pg_class c join pg_namespace s on s.oid = c.relnamespace
      where nspname not in ('pg_catalog', 'information_schema', 'pg_toast') and relkind in ('r', 'v', 'S')
        and relname not like 'rollbackctl\_%'
    union all select 'schema ' || nspname from pg_namespace
      where nspname not like 'pg\_%' and nspname not in ('information_schema', 'public')) o"
}
victims_intact() {
  assert_eq "1" "$(rb_psql "$NEW" 'select count(*) from victim')" "$1: victim still in new"
  assert_eq "1" "$(rb_psql "$LEG" 'select count(*) from victim')" "$1: victim still in legacy"
  assert_eq "$NEW_OBJECTS" "$(objects "$NEW")" "$1: nothing else created or dropped in new"
  assert_eq "$LEG_OBJECTS" "$(objects "$LEG")" "$1: nothing else created or dropped in legacy"
}
NEW_OBJECTS=$(objects "$NEW")
LEG_OBJECTS=$(objects "$LEG")

RB=$T/runbook.yaml
cat >"$RB" <<YAML
$(rb_runbook_pg hostile-identifiers "$T/state" "$NEW" "$LEG")
sync:
  from: new
  to: legacy
  tables:
    - name: "pay'; DROP TABLE victim; --"
      source:
        table: 'pay"; DROP TABLE victim; --.src''; DROP TABLE victim; -- ñ'
        changed_since: 'changed "at"; --'
      target:
        table: 'tgt"; DROP TABLE victim; -- é'
        key: ['key"; DROP TABLE victim; --']
      columns:
        'key"; DROP TABLE victim; --': id
        "amount'); DROP TABLE victim; --": '"amt''; DROP TABLE victim; --"'
        'nom "ü" ; x': '"名前 ""x"""'
verify:
  - name: Rows match
    compare: { table: "pay'; DROP TABLE victim; --" }
YAML

assert_exit 0 "$RB_BIN" -f "$RB" validate
assert_exit 0 "$RB_BIN" -f "$RB" plan
victims_intact "plan"
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "hostile names" --yes
assert_contains "$RB_OUT" "3 at risk: 2 inserted, 1 updated, 0 unchanged" "the three rows since cutover synced"
tgt='"tgt""; DROP TABLE victim; -- é"'
assert_eq "1|10.50|Zoë 'quoted' \"double\"
2|20.25|semi; colon -- dash
4|40.75|\$(touch x) \`y\`" \
  "$(rb_psql "$LEG" "select \"key\"\"; DROP TABLE victim; --\", \"amount'); DROP TABLE victim; --\", \"nom \"\"ü\"\" ; x\" from $tgt order by 1" | tr '\t' '|')" \
  "the rows arrived, values byte for byte"
assert_eq "pay'; DROP TABLE victim; --|3" \
  "$(rb_psql "$LEG" "select table_name || '|' || rows from rollbackctl_ledger")" "the ledger names the table as written"
victims_intact "execute"

assert_exit 0 "$RB_BIN" -f "$RB" verify
assert_contains "$RB_OUT" "Rows match" "verify ran the compare"
assert_exit 0 "$RB_BIN" -f "$RB" -o json gaps
assert_eq "0" "$(jq '[.tables[].rows // [] | length] | add // 0' "$RB_OUT_FILE")" "gaps: none after the sync"

# damage one synced row and remove another: compare and gaps name them by their hostile key
rb_psql "$LEG" "update $tgt set \"amount'); DROP TABLE victim; --\" = 99 where \"key\"\"; DROP TABLE victim; --\" = 2;
  delete from $tgt where \"key\"\"; DROP TABLE victim; --\" = 4"
assert_exit 1 "$RB_BIN" -f "$RB" -o json verify
cp "$RB_OUT_FILE" "$T/verify.json"
assert_eq '[{"key\"; DROP TABLE victim; --":"2"}]' \
  "$(jq -c '[.checks[0].compare.differences[].key]' "$T/verify.json")" "compare: the changed row, keyed by the hostile column"
assert_eq '[{"key\"; DROP TABLE victim; --":"4"}]' \
  "$(jq -c '[.checks[0].compare.missing[].key]' "$T/verify.json")" "compare: the missing row"
assert_exit 0 "$RB_BIN" -f "$RB" gaps
assert_contains "$RB_OUT" "pay'; DROP TABLE victim; -- manual_entry  key\"; DROP TABLE victim; --=4 " "gaps: the missing row to enter"
assert_contains "$RB_OUT" "pay'; DROP TABLE victim; -- review        key\"; DROP TABLE victim; --=2 amount'); DROP TABLE victim; --: new '20.25' legacy '99.00'" \
  "gaps: the changed row to review, with both values"
victims_intact "verify and gaps"
echo "ok - hostile identifiers quoted on every side: rows arrive, nothing else runs"
