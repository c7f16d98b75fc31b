#!/usr/bin/env bash
# Faults during a sync (issue 3 "Bad input and faults"), with a real server doing real damage:
#  - the target connection dropped mid-table once: the table is retried from scratch and lands
#    exactly once;
#  - the target connection dropped every time: bounded retries with backoff, then a clean failure
#    with nothing applied;
#  - another session holds the sync advisory lock: exit 4 naming the holder, nothing applied;
#    once it is gone, resume finishes the run;
#  - on a TTY the copy shows rows, rows/s and an ETA on stderr.
# A source expression sleeps at one row, so the table is reliably mid-COPY when we strike.
# test_sync_faults_jobs.sh runs it again with sync.jobs: 2: the table on a stream of its own
# (its retries inside that stream, the lock on the run's own connection).
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/integration/sync/common.sh"
sync_setup

# Payments only, with a 1.5 s pause on the source at payment 2601.
sed -i -e '/- name: new_employees/,/- name: processed_payments/{/- name: processed_payments/!d}' \
  -e '/- name: tax_changes/,$d' \
  -e 's/net_pay: net_amount/net_pay: "(select net_amount from pg_sleep(case when id = 2601 then 1.5 else 0 end))"/' "$RB"
sync_jobs "$RB"
assert_exit 0 "$RB_BIN" -f "$RB" validate
legacy_payments() { table_md5 "$LEG" "select * from payroll_history"; }
before=$(legacy_payments)
expected=$(table_md5 "$NEW" "select id, employee_id, pay_date, gross_amount, net_amount, federal_tax from employee_payments
                             where status = 'completed'")

# kill_target_copies SECONDS MAX: terminate the target backend of our COPY, up to MAX times; each
# kill's line in $T/kill_times: when that backend connected, and when it was terminated (epoch s)
kill_target_copies() {
  local until=$((SECONDS + $1)) max=$2 n=0 k
  : >"$T/kill_times"
  while ((SECONDS < until && n < max)); do
    k=$(rb_psql "$LEG" "select coalesce(string_agg(extract(epoch from backend_start) || ' ' ||
                               extract(epoch from clock_timestamp()), E'\n'), '')
                        from (select backend_start, pg_terminate_backend(pid) from pg_stat_activity
                              where datname = current_database() and query like 'COPY pg_temp.rollbackctl_stage%'
                              and state = 'active') t")
    if [[ -n $k ]]; then
      echo "$k" >>"$T/kill_times"
      n=$(wc -l <"$T/kill_times")
    fi
    sleep 0.1
  done
  echo "$n" >"$T/kills"
}

# --- dropped once: retried from scratch, applied exactly once ------------------------------------
kill_target_copies 20 1 &
killer=$!
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "drop once" --yes
wait "$killer"
assert_eq 1 "$(cat "$T/kills")" "the target connection was dropped once"
assert_contains "$RB_ERR" "(attempt 1 of 3); retrying the table from scratch in 1s"
assert_contains "$RB_OUT" "900 at risk: 900 inserted, 0 updated, 0 unchanged"
run_json
assert_eq 2 "$(res processed_payments attempts)" "second attempt succeeded"
assert_eq "$expected" "$(legacy_payments)" "every payment exactly once"
assert_eq 1 "$(rb_psql "$LEG" "select count(*) from rollbackctl_ledger")" "one ledger row"

# --- dropped every time: bounded retries, clean failure ------------------------------------------
rb_psql "$LEG" "delete from payroll_history where payment_id > 2000; delete from rollbackctl_ledger"
kill_target_copies 60 3 &
killer=$!
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "drop always" --yes
wait "$killer"
assert_eq 3 "$(cat "$T/kills")" "three attempts, each dropped"
assert_contains "$RB_OUT$RB_ERR" "(gave up after 3 attempts)"
assert_contains "$RB_OUT$RB_ERR" "$RB:"
assert_eq "$before" "$(legacy_payments)" "nothing applied"
assert_eq 0 "$(rb_psql "$LEG" "select count(*) from rollbackctl_ledger")" "no ledger row"
# Each new attempt connects only after its backoff, 1 s after the first drop and 2 s after the
# second. The time from a drop to the next connection also holds the drop being noticed (after the
# source's pause), the same for both: so the first gap is at least 1 s, the second about 1 s longer.
gaps=$(awk 'NR > 1 { printf "%s%.2f", sep, $1 - prev; sep = " " } { prev = $2 }' "$T/kill_times")
awk -v g="$gaps" 'BEGIN { n = split(g, a, " "); exit !(n == 2 && a[1] >= 1.0 && a[2] - a[1] >= 0.5) }' ||
  rb_fail "no doubling backoff between attempts: reconnected $gaps s after each drop"
rb_ok "backed off between attempts: reconnected $gaps s after each drop (1 s, then 2 s)"

# --- the sync lock held elsewhere: exit 4, nothing applied; resume once it is free -----------------
fifo=$T/holder.fifo
mkfifo "$fifo"
"$RB_TEST_PGBIN/psql" -XAtq -h "$RB_TEST_PGHOST" -p "$RB_TEST_PGPORT" -U "$RB_TEST_PGUSER" -d "$LEG" <"$fifo" >/dev/null &
holder=$!
exec 7>"$fifo"
rb_on_exit kill "$holder"
echo "set application_name = 'other rollback'; select pg_advisory_lock(1380074324, 1);" >&7
rb_wait_sql "$LEG" "select count(*) from pg_locks where locktype = 'advisory' and granted
  and database = (select oid from pg_database where datname = current_database())" 1 250 ||
  rb_fail "the other rollback's session did not get the sync lock"
assert_exit 4 "$RB_BIN" -f "$RB" execute --reason "locked out" --yes
assert_contains "$RB_ERR" "another rollback is syncing into 'legacy' (backend pid"
assert_contains "$RB_ERR" "application 'other rollback'"
assert_eq "$before" "$(legacy_payments)" "nothing applied while locked out"
exec 7>&-
wait "$holder" || true
assert_exit 0 "$RB_BIN" -f "$RB" resume
assert_contains "$RB_OUT" "900 at risk: 900 inserted"
assert_eq "$expected" "$(legacy_payments)" "resume applied the table once the lock was free"

# --- progress on a TTY -------------------------------------------------------------------------------
# 2 ms a row: the copy runs long enough for a rate (none is shown over less than 0.1 s)
sed -i 's/then 1.5 else 0 end/then 1.5 else 0.002 end/' "$RB"
rb_psql "$LEG" "delete from payroll_history where payment_id > 2000"
script -qefc "$(printf '%q ' "$RB_BIN" -f "$RB" execute --reason tty --yes)" /dev/null >"$T/tty.out" 2>&1
tty_out=$(tr '\r' '\n' <"$T/tty.out")
if [[ ${RB_SYNC_JOBS:-1} -gt 1 ]]; then
  # one line for the phase: the total first, then each stream
  assert_contains "$tty_out" "sync: " "progress names the phase"
  assert_contains "$tty_out" "of 900 rows, " "progress shows the rows copied of all at risk"
  assert_contains "$tty_out" "rows/s, 0 of 1 tables done; processed_payments " "and the rate, then each stream"
else
  assert_contains "$tty_out" "sync/processed_payments: " "progress names the table"
  assert_contains "$tty_out" "of 900 rows" "progress shows rows copied of rows at risk"
  assert_contains "$tty_out" "rows/s, ETA" "progress shows rate and ETA"
fi
"$RB_BIN" -f "$RB" execute --reason notty --yes >"$T/notty.out" 2>&1
assert_not_contains "$(cat "$T/notty.out")" "rows/s, ETA" "no progress when stderr is not a TTY"
