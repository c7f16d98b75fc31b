#!/usr/bin/env bash
# `rollbackctl gaps`: rows changed in new since cutover that legacy lacks (manual_entry, with the
# row's values) or holds differently (review, with both values), every one of them (not only the
# first 100), as a table, -o json and --csv (NULL an empty field, '' a quoted empty string, commas
# and quotes escaped); --table limits it to one sync table; bad options exit 2; nothing is written;
# --exit-code exits 1 when a row needs manual entry or review.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg

F=$RB_SOURCE_DIR/tests/integration/verify
T=$(rb_tmpdir)
NEW=$(rb_createdb gnew)
LEG=$(rb_createdb glegacy)
rb_psql "$NEW" - <"$F/new.sql"
rb_psql "$LEG" - <"$F/legacy.sql"
RB=$T/runbook.yaml
sed -e "s|@STATE@|$T/state|" -e "s|@NEW@|$(rb_conninfo "$NEW")|" -e "s|@LEGACY@|$(rb_conninfo "$LEG")|" \
  "$F/runbook.yaml.in" >"$RB"

assert_exit 0 "$RB_BIN" -f "$RB" gaps
assert_contains "$RB_OUT" "0 rows to enter in legacy (manual_entry), 0 to review" "clean data: no gaps"
# --exit-code (issue 16, diff's convention): 0 when nothing needs entry or review, 1 when a row does
assert_exit 0 "$RB_BIN" -f "$RB" gaps --exit-code
assert_contains "$RB_OUT" "0 rows to enter in legacy (manual_entry), 0 to review" "--exit-code: clean data, exit 0"

# 150 payments missing (more than the 100 verify lists), one '' vs NULL, one with a comma and quote
rb_psql "$LEG" "delete from payroll_history where payment_id between 3001 and 3153"   # 3 of them pending
rb_psql "$LEG" "update payroll_history set note = '' where payment_id = 4207"              # NULL in new (7 * 601)
rb_psql "$LEG" "update payroll_history set note = 'a,\"b' where payment_id = 4001"
rb_psql "$LEG" "update one_row set v = 'changed'"
before=$(rb_psql "$LEG" "select count(*) from payroll_history")

assert_exit 1 "$RB_BIN" -f "$RB" gaps --exit-code
assert_contains "$RB_OUT" "150 rows to enter in legacy (manual_entry), 3 to review" "--exit-code: the gaps still listed"
assert_not_contains "$RB_ERR" "error" "--exit-code: no error line, only the exit code"
assert_exit 1 "$RB_BIN" -f "$RB" -o json gaps --exit-code
assert_eq 150 "$(jq '.tables[] | select(.table == "processed_payments") | .manual_entry' <<<"$RB_OUT")" "--exit-code with -o json: the document as without it"
assert_exit 0 "$RB_BIN" -f "$RB" -o json gaps
J=$RB_OUT_FILE
assert_eq 150 "$(jq '[.gaps[] | select(.action == "manual_entry")] | length' "$J")" "every missing row listed"
assert_eq 150 "$(jq '.tables[] | select(.table == "processed_payments") | .manual_entry' "$J")" "counted"
assert_eq 3 "$(jq '[.gaps[] | select(.action == "review")] | length' "$J")" "three rows to review"
assert_eq '"note 3001"' "$(jq '.gaps[] | select(.action == "manual_entry" and .key.payment_id == "3001") | .new.note' "$J")" \
  "a missing row carries its new values"
assert_eq '[{"column":"note","new":null,"legacy":""}]' \
  "$(jq -c '.gaps[] | select(.key.payment_id == "4207") | .columns' "$J")" "NULL vs '' to review"
assert_eq '{"table":"single","action":"review","new":"only","legacy":"changed"}' \
  "$(jq -c '.gaps[] | select(.table == "single") | {table, action, new: .columns[0].new, legacy: .columns[0].legacy}' "$J")" \
  "the 1-row table's difference"

assert_exit 0 "$RB_BIN" -f "$RB" gaps --csv --table processed_payments
C=$RB_OUT_FILE
assert_eq "table,action,key,column,new,legacy" "$(head -1 "$C")" "csv header"
assert_eq 1050 "$(grep -c ',manual_entry,' "$C")" "one csv line per missing row and column (150 x 7)"
assert_contains "$(cat "$C")" 'processed_payments,review,payment_id=4207,note,,""' "NULL is empty, '' is quoted"
assert_contains "$(cat "$C")" 'processed_payments,review,payment_id=4001,note,note 4001,"a,""b"' "csv quoting"
assert_not_contains "$(cat "$C")" "single," "--table limits the output"
/usr/bin/python3 - "$C" <<'PY' || rb_fail "csv does not parse back"
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
assert all(len(r) == 6 for r in rows), "every line has 6 fields"
assert ["processed_payments", "review", "payment_id=4001", "note", "note 4001", 'a,"b'] in rows
PY
rb_ok "csv parses back with python's csv module"

assert_exit 0 "$RB_BIN" -f "$RB" gaps
assert_contains "$RB_OUT" "150 rows to enter in legacy (manual_entry), 3 to review"
assert_contains "$RB_OUT" "note: new NULL legacy ''"

assert_exit 2 "$RB_BIN" -f "$RB" gaps --bogus
assert_contains "$RB_ERR" "unknown option '--bogus'"
assert_exit 2 "$RB_BIN" -f "$RB" gaps --table nope
assert_contains "$RB_ERR" "no sync table named 'nope'"
assert_exit 2 "$RB_BIN" -f "$RB" -o json gaps --csv
assert_eq "$before" "$(rb_psql "$LEG" "select count(*) from payroll_history")" "gaps changed nothing"
[[ ! -e "$T/state/runs" ]] || rb_fail "gaps created a run"
rb_ok "gaps created no run"

# --- integer keys in numeric order (999999 before 1000000), in text, JSON and CSV ---------------------
# 100000, 999999 and 1000000 are missing in legacy; 999998 differs; 999997 is legacy-only history.
# In key-text order these would come 100000, 1000000, 999998, 999999; the merge of both sides must
# still pair 999998 with itself and pass over 999997.
rb_psql "$NEW" "insert into employee_payments
                select g, 1, date '2026-11-20', 10, 8, 'late ' || g, null, 'completed', timestamptz '2026-11-20'
                from unnest(array[100000, 999998, 999999, 1000000]) g"
rb_psql "$LEG" "insert into payroll_history values (999998, 1, '2026-11-20', 10, 8, 'other', null),
                                                   (999997, 1, '2026-11-20', 10, 8, 'history', null)"
numeric_order() { # the keys on stdin, one a line: in numeric order, ending with the three new ones
  local keys; keys=$(cat)
  sort -n -c <<<"$keys" || rb_fail "keys not in numeric order: $(tr '\n' ' ' <<<"$keys")"
  assert_eq "100000 999999 1000000" "$(tail -n 3 <<<"$keys" | paste -sd' ')" "$1"
}
assert_exit 0 "$RB_BIN" -f "$RB" gaps --table processed_payments
grep ' manual_entry ' "$RB_OUT_FILE" | sed -E 's/.*payment_id=([0-9]+).*/\1/' |
  numeric_order "text: missing keys in numeric order"
grep ' review ' "$RB_OUT_FILE" | sed -E 's/.*payment_id=([0-9]+).*/\1/' | sort -n -c ||
  rb_fail "text: review keys not in numeric order"
assert_contains "$(grep 'payment_id=999998 ' "$RB_OUT_FILE")" "review" "999998 is paired with legacy's row"
assert_not_contains "$(grep -e ' manual_entry ' -e ' review ' "$RB_OUT_FILE")" "payment_id=999997" \
  "legacy-only history is not a row to enter or review"
# it is what the runbook gives no deletions.scope for: a key legacy holds that new does not
assert_contains "$(grep 'payment_id=999997 ' "$RB_OUT_FILE")" "deleted_in_new" "legacy-only: listed as a deletion"
assert_exit 0 "$RB_BIN" -f "$RB" -o json gaps --table processed_payments
jq -r '.gaps[] | select(.action == "manual_entry") | .key.payment_id' "$RB_OUT_FILE" |
  numeric_order "json: missing keys in numeric order"
assert_eq '["note"]' "$(jq -c '[.gaps[] | select(.key.payment_id == "999998") | .columns[].column]' "$RB_OUT_FILE")" \
  "json: 999998 differs in its note only"
assert_exit 0 "$RB_BIN" -f "$RB" gaps --csv --table processed_payments
grep ',manual_entry,' "$RB_OUT_FILE" | cut -d, -f3 | sed 's/payment_id=//' | uniq |
  numeric_order "csv: missing keys in numeric order"
