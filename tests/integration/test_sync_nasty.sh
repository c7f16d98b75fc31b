#!/usr/bin/env bash
# Real data is nasty (issue 3 "Correct with real data"): names needing quotes everywhere (schema
# and table with spaces, a dot, upper and mixed case, reserved words), text with tabs, newlines,
# carriage returns, backslashes, COPY's own \N and \. markers, quotes, non-ASCII and control
# characters, NULL versus '', NUMERIC scale, timestamps with offsets, an enum into text, a timestamp
# into a date. The target must hold exactly what the source says, row for row. The run's
# environment asks libpq for another time zone and date style: the session settings pin them.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/integration/sync/common.sh"
rb_require pg
T=$(rb_tmpdir)
NEW=$(rb_createdb nnew)
LEG=$(rb_createdb nlegacy)
rb_psql "$NEW" - <"$SF/nasty_new.sql"
rb_psql "$LEG" - <"$SF/nasty_legacy.sql"
RB=$T/runbook.yaml
sync_runbook "$SF/nasty.yaml.in"

export PGTZ=America/New_York PGDATESTYLE="SQL, DMY"
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "nasty data" --yes
assert_contains "$RB_OUT" "7 at risk: 6 inserted, 1 updated, 0 unchanged"
# Row 9 has no change time: left out, but never silently.
assert_contains "$RB_OUT" "1 without a change time left out" "the row with a NULL changed_since is reported"
assert_contains "$RB_ERR" "1 source row with no 'Changed At' (NULL) left out" "and warned about"
unset PGTZ PGDATESTYLE

tgt='"LEGACY"."PAY.RECORD S"'
expect="select \"ID\", \"select\", \"Mixed Case\", note, maybe, amount, at, (at at time zone 'UTC')::text || '+00', kind::text, happened::date
        from \"Src Schema\".\"Pay-Record\" where \"Changed At\" >= '2026-11-01T00:00:00Z'"
got="select \"Id\", \"Order\", mixed, \"Note\", maybe, \"AMOUNT\", \"At\", \"AtText\", \"Kind\", \"Day\" from $tgt where \"Id\" <> 100"
assert_eq "$(table_md5 "$NEW" "$expect")" "$(table_md5 "$LEG" "$got")" "target rows equal the transformed source rows, byte for byte"

# The same, spelled out for the cases that matter most.
assert_eq "t" "$(rb_psql "$LEG" "select \"Note\" = E'tab\\there' from $tgt where \"Id\" = 1")" "tab kept"
assert_eq "t" "$(rb_psql "$LEG" "select \"Note\" = E'new\\nline and \\r carriage' from $tgt where \"Id\" = 2")" "newline and CR kept"
assert_eq "t" "$(rb_psql "$LEG" "select \"Note\" = E'back\\\\slash \\\\N and \\\\t literally' from $tgt where \"Id\" = 3")" "backslashes kept"
assert_eq "t" "$(rb_psql "$LEG" "select \"Note\" = E'\\\\.\\n\\\\.' and maybe = E'\\\\N' from $tgt where \"Id\" = 7")" "COPY markers as data kept"
assert_eq "t" "$(rb_psql "$LEG" "select \"Note\" = E'emoji 😀 and CJK 漢字 and \\x01 control' from $tgt where \"Id\" = 5")" "non-ASCII and control characters kept"
assert_eq "t" "$(rb_psql "$LEG" "select \"Note\" = E'quote '' and double \" and both ''\"' from $tgt where \"Id\" = 4")" "quotes kept"
assert_eq "1,5|2,6" "$(rb_psql "$LEG" "select (select string_agg(\"Id\"::text, ',' order by \"Id\") from $tgt where maybe is null), (select string_agg(\"Id\"::text, ',' order by \"Id\") from $tgt where maybe = '')")" \
  "NULL and empty strings stay apart"
assert_eq "1.5000|0.0001|-12345678.9000|0.0000|9999999999.9999|12.3400" \
  "$(rb_psql "$LEG" "select string_agg(\"AMOUNT\"::text, '|' order by \"Id\") from $tgt where \"Id\" <> 100 and \"AMOUNT\" is not null")" \
  "NUMERIC scale kept"
assert_eq "2026-11-02 04:30:00+00|2026-11-03 08:00:00+00|2026-12-31 23:59:59.999999+00" \
  "$(rb_psql "$LEG" "select string_agg(\"AtText\", '|' order by \"Id\") from $tgt where \"Id\" in (1, 2, 3)")" \
  "timestamptz text in UTC, ISO style, whatever the environment asked"
assert_eq "t" "$(rb_psql "$LEG" "select \"At\" = '2026-11-02 10:00:00+05:30' from $tgt where \"Id\" = 1")" "instant kept"
assert_eq "regular|bonus|off-cycle" "$(rb_psql "$LEG" "select string_agg(\"Kind\", '|' order by \"Id\") from $tgt where \"Id\" in (1, 2, 3)")" "enum labels as text"
assert_eq "2026-11-02|2026-11-03|2026-12-31" "$(rb_psql "$LEG" "select string_agg(\"Day\"::text, '|' order by \"Id\") from $tgt where \"Id\" in (1, 2, 3)")" "timestamps to dates"
assert_eq "keep" "$(rb_psql "$LEG" "select \"Order\" from $tgt where \"Id\" = 100")" "rows outside the sync untouched"
assert_eq 0 "$(rb_psql "$LEG" "select count(*) from $tgt where \"Id\" in (8, 9)")" "rows before cutover or never changed not synced"

# Nothing left to do the second time: every value compares equal.
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "nasty again" --yes
assert_contains "$RB_OUT" "7 at risk: 0 inserted, 0 updated, 7 unchanged"
