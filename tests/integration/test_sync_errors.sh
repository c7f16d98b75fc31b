#!/usr/bin/env bash
# Bad input (issue 3 "Bad input and faults"): each case fails with a clear message naming the
# runbook line, exit 1, and nothing half-applied in legacy: a missing source or target table, a
# missing target column, a source expression that does not run, a key without a unique index,
# duplicate keys in the source rows, a value that does not cast (row and column named), the source
# query failing mid-stream (the target COPY is aborted). Then: a non-critical table failing lets the
# run go on (partial, exit 1); a critical one stops it, and resume finishes it once fixed.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/integration/sync/common.sh"
sync_setup

legacy_state() {
  table_md5 "$LEG" "select 'e', e::text from employees e union all select 'p', p::text from payroll_history p
                    union all select 't', x::text from employee_tax x"
}
before=$(legacy_state)

# one_table NAME SOURCE-TABLE WHERE TARGET-TABLE KEY COLUMNS...: a runbook syncing one table.
one_table() {
  local name=$1 src=$2 where=$3 tgt=$4 key=$5 c
  shift 5
  {
    sed -n '1,/^  tables:/p' "$SF/runbook.yaml.in" | sed -e "s|@STATE@|$T/state|" \
      -e "s|@NEW@|$(rb_conninfo "$NEW")|" -e "s|@LEGACY@|$(rb_conninfo "$LEG")|"
    printf '    - name: %s\n      critical: true\n      source:\n        table: %s\n' "$name" "$src"
    printf '        changed_since: created_at\n'
    [[ -n "$where" ]] && printf '        where: %s\n' "$where"
    printf '      target:\n        table: %s\n        key: [%s]\n      columns:\n' "$tgt" "$key"
    for c in "$@"; do printf '        %s\n' "$c"; done
  } >"$RB"
}
line_of() { grep -n -F -- "$1" "$RB" | head -n 1 | cut -d: -f1; }

# fails WHAT NEEDLE LINE-TEXT: execute exits 1, names the runbook line and NEEDLE, changes nothing.
fails() {
  local what=$1 needle=$2 at
  at=$(line_of "$3")
  assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "$what" --yes
  assert_contains "$RB_OUT$RB_ERR" "$RB:$at:" "$what: names runbook line $at"
  assert_contains "$RB_OUT$RB_ERR" "$needle" "$what: says why"
  assert_eq "$before" "$(legacy_state)" "$what: legacy unchanged"
  assert_eq 0 "$(rb_psql "$LEG" "select count(*) from rollbackctl_ledger")" "$what: no ledger row"
}
PAY=("payment_id: id" "emp_id: employee_id" "pay_date: pay_date" "gross_pay: gross_amount" "net_pay: net_amount" "fed_tax: federal_tax")

rb_psql "$LEG" "create table if not exists rollbackctl_ledger (run_id text, table_name text, rows bigint, checksum text,
  applied_at timestamptz default now(), inserted bigint, updated bigint, unchanged bigint, primary key (run_id, table_name))"

one_table payments employee_paymentz "status = 'completed'" payroll_history payment_id "${PAY[@]}"
fails "missing source table" "source table 'employee_paymentz' does not exist in 'new'" "table: employee_paymentz"

one_table payments employee_payments "status = 'completed'" payroll_histry payment_id "${PAY[@]}"
fails "missing target table" "target table 'payroll_histry' does not exist in 'legacy'" "table: payroll_histry"

one_table payments employee_payments "status = 'completed'" payroll_history payment_id "${PAY[@]}" "bonus: gross_amount"
fails "missing target column" "target table 'payroll_history' has no column 'bonus'" "bonus: gross_amount"

one_table payments employee_payments "status = 'completed'" payroll_history payment_id "payment_id: id" \
  "emp_id: employe_id" "pay_date: pay_date" "gross_pay: gross_amount" "net_pay: net_amount" "fed_tax: federal_tax"
fails "bad source expression" "column 'emp_id': source expression 'employe_id' fails on 'new': column \"employe_id\" does not exist" \
  "emp_id: employe_id"

rb_psql "$LEG" "create table history_copy as select * from payroll_history"
one_table payments employee_payments "status = 'completed'" history_copy payment_id "${PAY[@]}"
fails "key without unique index" "target table 'history_copy' has no unique index on the key (payment_id)" "key: [payment_id]"
rb_psql "$LEG" "drop table history_copy"
before=$(legacy_state)

one_table payments employee_payments "status = 'completed'" payroll_history payment_id "payment_id: id / 2" \
  "emp_id: employee_id" "pay_date: pay_date" "gross_pay: gross_amount" "net_pay: net_amount" "fed_tax: federal_tax"
fails "duplicate keys" "duplicate key in the source rows: payment_id=" "key: [payment_id]"
assert_contains "$RB_OUT$RB_ERR" "appears 2 times"

one_table payments employee_payments "status = 'completed'" payroll_history payment_id "payment_id: id" \
  "emp_id: \"case when id = 2502 then 'n/a' else employee_id::text end\"" "pay_date: pay_date" \
  "gross_pay: gross_amount" "net_pay: net_amount" "fed_tax: federal_tax"
fails "value that does not cast" "row 452 of the source query, column 'emp_id'" "emp_id: \"case"
assert_contains "$RB_OUT$RB_ERR" 'invalid input syntax for type integer: "n/a"'
assert_contains "$RB_OUT$RB_ERR" "(source row with payment_id=2502)"

one_table payments employee_payments "status = 'completed'" payroll_history payment_id "payment_id: id" \
  "emp_id: employee_id" "pay_date: pay_date" "gross_pay: gross_amount / (id - 2901)" "net_pay: net_amount" \
  "fed_tax: federal_tax"
fails "source failing mid-stream" "source query failed: division by zero" "table: employee_payments"
# The target's COPY was aborted with our message: the server log of the target says so.
if [[ -r "${RB_TEST_PGLOG:-}" ]]; then
  assert_contains "$(cat "$RB_TEST_PGLOG")" "rollbackctl: source query failed: division by zero" "target COPY aborted with the source's message"
fi

# --- a non-critical table fails, the run goes on ------------------------------------------------
sync_runbook "$SF/runbook.yaml.in"
rb_psql "$LEG" "alter table employee_tax drop constraint employee_tax_pkey"

# Move tax_changes first so that the tables after it show the run going on.
/usr/bin/python3 - "$RB" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
head, tables = s.split("  tables:\n")
items = ["    - name:" + x for x in tables.split("    - name:")[1:]]
open(p, "w").write(head + "  tables:\n" + items[2] + "".join(items[:2]))
PY
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "partial" --yes
assert_contains "$RB_OUT$RB_ERR" "has no unique index on the key (emp_id)"
assert_contains "$RB_OUT$RB_ERR" "finished partially"
assert_contains "$RB_OUT" "900 at risk: 900 inserted" "the tables after the failed one were applied"
run_json
assert_eq partial "$(jq -r .outcome "$T/status.json")" "outcome partial"
# the phase of the failed non-critical table is partial, not done: in the log, the journal, status
assert_contains "$RB_OUT" "PARTIAL sync" "the phase line says partial"
assert_contains "$RB_OUT" "1 of 3 actions failed: sync/tax_changes" "naming the failed table"
assert_eq partial "$(jq -r '.phases[] | select(.name == "sync") | .state' "$T/status.json")" "status: sync partial"
assert_exit 0 "$RB_BIN" -f "$RB" status
assert_contains "$RB_OUT" "sync partial" "status text: sync partial"
journal=$(ls "$T"/state/runs/*/journal.jsonl | tail -n 1)
fact() { grep '"event":"fact"' "$journal" | jq -c "select(.data.key == \"$1\") | .data.value" | tail -n 1; }
assert_eq 975 "$(fact records_at_risk)" "at risk counts the failed table too"
assert_eq 35 "$(fact records_lost)" "the failed table's rows are lost"
assert_eq '"96.41%"' "$(fact recovery_rate)" "recovery rate"
rb_psql "$LEG" "alter table employee_tax add primary key (emp_id)"

# --- a critical table fails: the run stops; fixed, resume finishes it ------------------------------
rb_psql "$LEG" "delete from payroll_history where payment_id > 2000; delete from employees where employee_id > 101; delete from rollbackctl_ledger"
sync_runbook "$SF/runbook.yaml.in"
sed -i 's/hire_date: hired_at/hire_date: "case when id = 120 then $$soon$$ else hired_at::text end"/' "$RB"
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "critical" --yes
assert_contains "$RB_OUT$RB_ERR" "column 'hire_date'"
assert_contains "$RB_OUT$RB_ERR" "(source row with employee_id=120)"
assert_eq 0 "$(rb_psql "$LEG" "select count(*) from payroll_history where payment_id > 2000")" "the run stopped at the critical table"
sed -i 's/hire_date: "case when id = 120 then $$soon$$ else hired_at::text end"/hire_date: hired_at/' "$RB"
assert_exit 0 "$RB_BIN" -f "$RB" resume
assert_contains "$RB_OUT" "40 at risk: 39 inserted, 0 updated, 1 unchanged"
assert_eq 900 "$(rb_psql "$LEG" "select count(*) from payroll_history where payment_id > 2000")" "resume finished the run"
