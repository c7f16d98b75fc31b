#!/usr/bin/env bash
# One consistent source snapshot for the whole sync phase (issue 17): a transaction committed in
# the source while the sync runs touches two tables, one of them read before the commit and the
# other after it; both of its rows, or neither, reach legacy, never one alone. Here neither: every
# table reads the snapshot the phase exported when it began. A second run brings both.
#
# The handshake, no sleeps: new_employees's source expression takes a shared advisory lock the
# test holds, so its COPY waits (seen in pg_stat_activity as an advisory lock wait) while the test
# commits; the payments table is read only after that commit (it comes later in the runbook).
# Then the same with sync.jobs: 2: new_employees and tax_changes both wait on the lock, each on a
# stream of its own, while processed_payments (after: tax_changes) waits its turn; the commit
# lands in between, and again neither of its rows is synced.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/integration/sync/common.sh"
sync_setup

sed -i 's/^        full_name: full_name$/        full_name: "(select full_name from pg_advisory_xact_lock_shared(4242))"/' "$RB"
assert_contains "$(cat "$RB")" "pg_advisory_xact_lock_shared(4242)"
assert_exit 0 "$RB_BIN" -f "$RB" validate
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_OUT" "SET TRANSACTION SNAPSHOT '<the phase's snapshot>'" "plan shows the snapshot the source reads"

# hold_lock: a psql session holding advisory lock 4242 on NEW until `release_lock`
fifo=$T/holder.fifo
mkfifo "$fifo"
"$RB_TEST_PGBIN/psql" -XAtq -h "$RB_TEST_PGHOST" -p "$RB_TEST_PGPORT" -U "$RB_TEST_PGUSER" -d "$NEW" <"$fifo" >/dev/null &
holder=$!
exec 7>"$fifo"
rb_on_exit kill "$holder"
# hold_lock: the session takes advisory lock 4242 (release_lock gives it back)
hold_lock() {
  echo "select pg_advisory_lock(4242);" >&7
  rb_wait_sql "$NEW" "select count(*) from pg_locks where locktype = 'advisory' and objid = 4242 and granted" 1 250 ||
    rb_fail "the test's session did not get the advisory lock"
}
release_lock() { echo "select pg_advisory_unlock(4242);" >&7; }
hold_lock

# waiting N: until N source sessions of rollbackctl wait for lock 4242
waiting() {
  for _ in $(seq 600); do
    [[ $(rb_psql "$NEW" "select count(*) from pg_stat_activity where datname = current_database()
                         and wait_event_type = 'Lock' and wait_event = 'advisory'") -ge $1 ]] && return 0
    sleep 0.05
  done
  rb_fail "no rollbackctl session waits for the advisory lock"
}

# commit_hire_and_payment EMPLOYEE PAYMENT DAY GROSS NET TAX: one transaction in new touching both
# tables: a hire on 2026-11-DAY and their first payment the day after.
commit_hire_and_payment() {
  rb_psql "$NEW" "begin;
    insert into employees values ($1, 'E00$1', 'Employee $1', 'active', '2026-11-$3 09:00', '2026-11-$3 09:00:00+00');
    insert into employee_payments values ($2, $1, '2026-11-$(($3 + 1))', $4, $5, $6, 'completed', '2026-11-$(($3 + 1)) 10:00:00+00');
    commit"
}
# legacy_has EMPLOYEE PAYMENT: "E|P", how many of each legacy holds
legacy_has() {
  rb_psql "$LEG" "select (select count(*) from employees where employee_id = $1) || '|' ||
                         (select count(*) from payroll_history where payment_id = $2)"
}

"$RB_BIN" -f "$RB" execute --reason "snapshot" --yes >"$T/run.out" 2>&1 &
pid=$!
waiting 1
rb_ok "new_employees's COPY waits for the test's lock, inside the sync phase"
commit_hire_and_payment 141 3001 20 1234.56 1000.00 150.00
release_lock
rc=0
wait "$pid" || rc=$?
cat "$T/run.out"
assert_eq 0 "$rc" "the sync finished"
assert_contains "$(cat "$T/run.out")" "40 at risk: 39 inserted, 1 updated" "new_employees read the snapshot taken before the commit"
assert_contains "$(cat "$T/run.out")" "900 at risk: 900 inserted" "processed_payments, read after the commit, read that snapshot too"
assert_eq "0|0" "$(legacy_has 141 3001)" \
  "neither row of the transaction committed mid-sync reached legacy"
run_json
assert_eq 1 "$(jq '[.actions[] | select(.phase == "sync") | .result.snapshot | tojson] | unique | length' "$T/status.json")" \
  "every table journaled the same snapshot"
assert_eq true "$(jq '[.actions[] | select(.phase == "sync") | .result.snapshot] | all(.xmin != "" and (.lsn | test("^[0-9A-F]+/[0-9A-F]+$")) and (.taken_at | endswith("Z")))' "$T/status.json")" \
  "the snapshot's xmin, lsn and instant are journaled"
assert_eq 0 "$(rb_psql "$NEW" "select count(*) from pg_stat_activity where datname = current_database() and application_name like 'rollbackctl%'")" \
  "the session holding the snapshot ended with the run"

# --- the next run reads a snapshot with the transaction in it: both rows ---------------------------
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "again" --yes
assert_contains "$RB_OUT" "41 at risk: 1 inserted, 0 updated, 40 unchanged"
assert_contains "$RB_OUT" "901 at risk: 1 inserted, 0 updated, 900 unchanged"
assert_eq "1|1" "$(legacy_has 141 3001)" \
  "both rows of that transaction reached legacy together"

# --- sync.jobs: 2, two streams waiting while the transaction commits ------------------------------
sed -i -e 's/^  to: legacy$/  to: legacy\n  jobs: 2/' \
  -e 's/allowances: allowances }/allowances: "(select allowances from pg_advisory_xact_lock_shared(4242))" }/' \
  -e 's/^    - name: processed_payments$/    - name: processed_payments\n      after: [tax_changes]/' "$RB"
assert_exit 0 "$RB_BIN" -f "$RB" validate
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_OUT" "starts once these have finished: sync/tax_changes (after:)" "plan shows the order"
hold_lock
"$RB_BIN" -f "$RB" execute --reason "snapshot, two jobs" --yes >"$T/run2.out" 2>&1 &
pid=$!
waiting 2
rb_ok "new_employees and tax_changes wait for the lock at the same time, on two streams"
commit_hire_and_payment 142 3002 22 2345.67 2000.00 250.00
release_lock
rc=0
wait "$pid" || rc=$?
cat "$T/run2.out"
assert_eq 0 "$rc" "the parallel sync finished"
assert_contains "$(cat "$T/run2.out")" "41 at risk: 0 inserted, 0 updated, 41 unchanged" "new_employees: the snapshot before the commit"
assert_contains "$(cat "$T/run2.out")" "901 at risk: 0 inserted, 0 updated, 901 unchanged" "processed_payments, started after the commit: the same snapshot"
assert_eq "0|0" "$(legacy_has 142 3002)" \
  "neither row of the transaction committed mid-sync reached legacy"
journal=$(ls -t "$T"/state/runs/*/journal.jsonl | head -n 1)
sync_in_flight_together "$journal" || rb_fail "no two tables were in flight at once"
rb_ok "two tables were in flight at once"
assert_eq "sync/tax_changes done sync/processed_payments started" \
  "$(jq -r 'select(.phase == "sync" and (.event == "started" or .event == "done")) | .action + " " + .event' "$journal" |
     grep -A1 -x 'sync/tax_changes done' | paste -sd' ')" \
  "processed_payments started once tax_changes had finished"
run_json
assert_eq 1 "$(jq '[.actions[] | select(.phase == "sync") | .result.snapshot | tojson] | unique | length' "$T/status.json")" \
  "the three tables, on their streams, journaled one snapshot"
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "again, two jobs" --yes
assert_contains "$RB_OUT" "42 at risk: 1 inserted, 0 updated, 41 unchanged"
assert_contains "$RB_OUT" "902 at risk: 1 inserted, 0 updated, 901 unchanged"
