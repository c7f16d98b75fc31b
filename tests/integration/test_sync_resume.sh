#!/usr/bin/env bash
# Exactly once under SIGKILL (issue 3 "Exactly once"): a sync of 240,000 rows into two legacy
# tables is killed with SIGKILL at up to 12 points (while the target runs the COPY or the apply,
# and at fractions of the run's time) and resumed
# each time; the legacy tables must end byte for byte as after an uninterrupted run (md5 of the
# ordered table text), with one ledger row per table. Then the narrowest window: the process is
# frozen while the server commits a table and killed before it can journal "done"; resume must
# find the table in the ledger and not apply it again.
# test_sync_resume_jobs.sh runs all of it again with sync.jobs: 2: both tables in flight at once,
# each on its own connections, killed together.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/integration/sync/common.sh"
rb_require pg
T=$(rb_tmpdir)
NEW=$(rb_createdb knew)
rb_psql "$NEW" - <"$SF/big_new.sql"

# legacy_db NAME: a fresh legacy database; prints its name.
legacy_db() { local db; db=$(rb_createdb "$1"); rb_psql "$db" - <"$SF/big_legacy.sql"; echo "$db"; }
# runbook DB STATE: prints the path of a runbook syncing into DB with state in STATE.
runbook() {
  sed -e "s|@STATE@|$2|" -e "s|@NEW@|$(rb_conninfo "$NEW")|" -e "s|@LEGACY@|$(rb_conninfo "$1")|" \
    "$SF/big.yaml.in" >"$2.yaml"
  sync_jobs "$2.yaml"
  echo "$2.yaml"
}
legacy_md5() {
  echo "$(table_md5 "$1" "select * from history_a order by payment_id") $(table_md5 "$1" "select * from history_b order by payment_id")"
}

# --- the reference: one uninterrupted run ---------------------------------------------------------
REF=$(legacy_db kref)
t0=$(date +%s%N)
assert_exit 0 "$RB_BIN" -f "$(runbook "$REF" "$T/ref")" execute --reason reference --yes
ref_ms=$((($(date +%s%N) - t0) / 1000000))
want=$(legacy_md5 "$REF")
if [[ ${RB_SYNC_JOBS:-1} -gt 1 ]]; then
  sync_in_flight_together "$(ls "$T"/ref/runs/*/journal.jsonl)" || rb_fail "the tables did not run at once"
  rb_ok "with sync.jobs: $RB_SYNC_JOBS both tables were in flight together"
fi

# --- killed at many points, resumed each time ------------------------------------------------------
LEG=$(legacy_db kleg)
RB=$(runbook "$LEG" "$T/kill")
cmd=(execute --reason "kill test" --yes)
kills=0

# start: run execute the first time, resume after that; in the background, its pid in $pid.
start() {
  "$RB_BIN" -f "$RB" "${cmd[@]}" >>"$T/kill.log" 2>&1 &
  pid=$!
  if [[ ${cmd[0]} == execute ]]; then
    # Wait until the run exists, so that there is something to resume.
    for _ in $(seq 200); do compgen -G "$T/kill/runs/*/journal.jsonl" >/dev/null && break; sleep 0.02; done
  fi
  cmd=(resume)
}
finish() { wait "$pid" 2>/dev/null || true; }
done_yet() { [[ $("$RB_BIN" -f "$RB" -o json status | jq -r .outcome) == succeeded ]]; }

# 1. Kill points by state: while the target runs the COPY, or the apply step (the upsert, or the
#    plain INSERT when none of the staged keys is in legacy yet), of whichever table is in flight
#    (an interrupted table is redone from scratch, so each state comes again). Regexes.
copy_re='^COPY pg_temp\.rollbackctl_stage' apply_re='^(WITH upsert|INSERT INTO "history_)'
for stmt in "$copy_re" "$apply_re" "$copy_re" "$apply_re" "$copy_re" "$apply_re"; do
  start
  for _ in $(seq 1500); do
    kill -0 "$pid" 2>/dev/null || break
    if [[ $(rb_psql "$LEG" "select count(*) from pg_stat_activity where datname = current_database()
             and application_name like 'rollbackctl%' and state = 'active' and query ~ '$stmt'") -ge 1 ]]; then
      kill -9 "$pid" && kills=$((kills + 1)) && echo "# killed during '$stmt'"
      break
    fi
    sleep 0.01
  done
  finish
  done_yet && break
done

# 2. Kill points by time: fractions of the uninterrupted run's time.
for frac in 0.02 0.1 0.2 0.3 0.4 0.5; do
  done_yet && break
  delay=$(awk -v f="$frac" -v ms="$ref_ms" 'BEGIN { printf "%.3f", f * ms / 1000 }')
  start
  sleep "$delay"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); echo "# killed after ${delay}s"; fi
  finish
done
((kills >= 6)) || rb_fail "only $kills kills landed before a resume finished"
rb_ok "killed $kills times with SIGKILL, resumed after each"
if [[ $("$RB_BIN" -f "$RB" -o json status | jq -r .outcome) != succeeded ]]; then
  assert_exit 0 "$RB_BIN" -f "$RB" resume
fi
assert_eq "$want" "$(legacy_md5 "$LEG")" "legacy tables byte for byte as after an uninterrupted run"
run_id=$("$RB_BIN" -f "$RB" -o json status | jq -r .run_id)
assert_eq "payments_a|80000 payments_b|160000" \
  "$(rb_psql "$LEG" "select table_name || '|' || rows from rollbackctl_ledger where run_id = '$run_id' order by 1" | paste -sd' ')" \
  "one ledger row per table, for the whole run"
journal=$(ls "$T"/kill/runs/*/journal.jsonl)
assert_eq 2 "$(grep '"event":"done"' "$journal" | grep -c '"phase":"sync"')" "each table journaled done exactly once"
assert_contains "$(cat "$T/kill.log")" "was in flight when the run stopped; re-applying" "resume re-applied an interrupted table"
assert_eq 0 "$(rb_psql "$LEG" "select count(*) from pg_stat_activity where datname = current_database() and application_name like 'rollbackctl%'")" \
  "no backend of a killed process lingers"

# --- killed between COMMIT and the journal's "done" ---------------------------------------------------
LEG3=$(legacy_db kcommit)
RB=$(runbook "$LEG3" "$T/commit")
rb_psql "$LEG3" - <<'SQL'
create table rollbackctl_ledger (run_id text not null, table_name text not null, rows bigint not null,
  checksum text not null, applied_at timestamptz not null default now(), inserted bigint not null default 0,
  updated bigint not null default 0, unchanged bigint not null default 0, primary key (run_id, table_name));
-- Commit of a table takes 2 s: time enough to freeze the client while the server commits.
create function slow_commit() returns trigger language plpgsql as $$ begin perform pg_sleep(2); return null; end $$;
create constraint trigger slow_commit after insert on rollbackctl_ledger deferrable initially deferred
  for each row execute function slow_commit();
SQL
"$RB_BIN" -f "$RB" execute --reason "commit window" --yes >"$T/commit.log" 2>&1 &
pid=$!
rb_wait_sql "$LEG3" "select count(*) from pg_stat_activity where datname = current_database()
  and application_name like 'rollbackctl%' and query = 'COMMIT' and state = 'active'" 1 || true
kill -STOP "$pid"
rb_wait_sql "$LEG3" "select count(*) from rollbackctl_ledger" 1 || true
assert_eq 1 "$(rb_psql "$LEG3" "select count(*) from rollbackctl_ledger")" "the server committed the first table"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
journal=$(ls "$T"/commit/runs/*/journal.jsonl)
assert_eq 0 "$(grep '"event":"done"' "$journal" | grep -c '"phase":"sync"' || true)" "killed before journaling done"
assert_exit 0 "$RB_BIN" -f "$RB" resume
assert_contains "$RB_OUT" "already committed by this run before it was interrupted: 80000 at risk, 63333 inserted, 16667 updated, 0 unchanged" \
  "resume found the committed table in the ledger"
assert_eq "$want" "$(legacy_md5 "$LEG3")" "legacy tables as after an uninterrupted run"
assert_eq 2 "$(rb_psql "$LEG3" "select count(*) from rollbackctl_ledger")" "no table applied twice"
