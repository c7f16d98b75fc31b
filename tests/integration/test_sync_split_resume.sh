#!/usr/bin/env bash
# split: N under SIGKILL and with the shared snapshot (issue 17), against real PostgreSQL.
# 1. split: 3 over sync.jobs: 2, killed once range 1 has committed while range 2 sits in its
#    COMMIT; a row with a new largest key arrives in the source before the resume. The resume
#    ends the killed process's backend (range 2 then did not commit), reuses the journaled bounds
#    (the new row falls in range 3, open above), does not apply range 1 again (its ledger row
#    untouched, the inserted counts add up to an unsplit run's) and ends with legacy byte for
#    byte as an unsplit run over the same source.
# 2. split: 3 with sync.jobs: 1 (the ranges one after the other): a source transaction touching
#    rows of ranges 1 and 3, committed while range 1 commits, is in no range (one snapshot for all
#    of them), and all of it is in the next run.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/integration/sync/common.sh"
rb_require pg
T=$(rb_tmpdir)
NEW=$(rb_createdb sprnew)
rb_psql "$NEW" - <"$SF/big_new.sql"

legacy_db() { local db; db=$(rb_createdb "$1"); rb_psql "$db" - <"$SF/big_legacy.sql"; echo "$db"; }
# runbook DB STATE SPLIT JOBS: the split table alone, no deletions
runbook() {
  sed -e "s|@STATE@|$2|" -e "s|@NEW@|$(rb_conninfo "$NEW")|" -e "s|@LEGACY@|$(rb_conninfo "$1")|" \
    -e "s|@SPLIT@|$3|" -e "s|@JOBS@|$4|" -e '/deletions:/d' -e '/- name: after_payments/,$d' \
    "$SF/split.yaml.in" >"$2.yaml"
  echo "$2.yaml"
}
legacy_md5() { table_md5 "$1" "select * from history_a"; }
# a ledger whose COMMIT of the ranges named waits (a deferred trigger): time to act meanwhile
slow_ledger() {
  rb_psql "$1" - <<SQL
create table rollbackctl_ledger (run_id text not null, table_name text not null, rows bigint not null,
  checksum text not null, applied_at timestamptz not null default now(), inserted bigint not null default 0,
  updated bigint not null default 0, unchanged bigint not null default 0, deleted bigint not null default 0,
  deletions_found bigint not null default 0, primary key (run_id, table_name));
create function slow_commit() returns trigger language plpgsql as \$\$
  begin if new.table_name $2 then perform pg_sleep($3); end if; return null; end \$\$;
create constraint trigger slow_commit after insert on rollbackctl_ledger deferrable initially deferred
  for each row execute function slow_commit();
SQL
}

# --- 1. killed after one range committed -------------------------------------------------------------
LEG=$(legacy_db sprkill)
slow_ledger "$LEG" "<> 'payments#1'" 60
RB=$(runbook "$LEG" "$T/kill" 3 2)
"$RB_BIN" -f "$RB" execute --reason "kill after a range" --yes >"$T/kill.log" 2>&1 &
pid=$!
for _ in $(seq 1500); do
  [[ $(rb_psql "$LEG" "select count(*) from rollbackctl_ledger where table_name = 'payments#1'") == 1 &&
     $(rb_psql "$LEG" "select count(*) from pg_stat_activity where datname = current_database()
                       and application_name like 'rollbackctl%' and query = 'COMMIT' and state = 'active'") -ge 1 ]] && break
  sleep 0.02
done
assert_eq "payments#1" "$(rb_psql "$LEG" "select string_agg(table_name, ' ') from rollbackctl_ledger")" \
  "range 1 committed, range 2 in its COMMIT"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
journal=$(ls "$T"/kill/runs/*/journal.jsonl)
bounds=$(jq -c 'select(.event == "fact" and .data.key == "sync_split") | .data.value.payments.bounds' "$journal")
assert_eq '["90001","170001"]' "$bounds" "the bounds were journaled before any range started"
first=$(rb_psql "$LEG" "select xmin || ' ' || applied_at || ' ' || inserted || ' ' || updated from rollbackctl_ledger where table_name = 'payments#1'")
# the trigger's function made quick without DROP TRIGGER, whose lock would wait out the killed
# process's backend still sleeping in range 2's COMMIT; the resume ends that backend (an orphan
# of this run), so range 2 did not commit and is applied again
rb_psql "$LEG" "create or replace function slow_commit() returns trigger language plpgsql as \$\$
  begin return null; end \$\$"
# a new largest key: bounds computed again would move; the journaled ones put it in range 3
rb_psql "$NEW" "insert into payments values (500000, 7, '2026-11-02', 10.00, 8.00, 'late', '2026-11-02 00:00:00+00')"
assert_exit 0 "$RB_BIN" -f "$RB" resume
assert_eq "$first" "$(rb_psql "$LEG" "select xmin || ' ' || applied_at || ' ' || inserted || ' ' || updated from rollbackctl_ledger where table_name = 'payments#1'")" \
  "range 1's ledger row untouched: it was not applied again"
run_id=$("$RB_BIN" -f "$RB" -o json status | jq -r .run_id)
assert_eq "payments#1 payments#2 payments#3" \
  "$(rb_psql "$LEG" "select string_agg(table_name, ' ' order by table_name) from rollbackctl_ledger where run_id = '$run_id'")" \
  "one ledger row per range"
assert_eq 1 "$(jq -r 'select(.event == "done" and .action == "sync/payments#1") | .action' "$journal" | wc -l)" \
  "range 1 journaled done once"
assert_eq "$bounds" "$(jq -c 'select(.event == "fact" and .data.key == "sync_split") | .data.value.payments.bounds' "$journal" | sort -u)" \
  "resume kept the journaled bounds"
assert_eq "'late'" "$(rb_psql "$LEG" "select quote_literal(memo) from history_a where payment_id = 500000")" \
  "the row past the bounds is in range 3 (open above)"
assert_eq 80001 "$(rb_psql "$LEG" "select rows from rollbackctl_ledger where run_id = '$run_id' and table_name = 'payments#3'")" \
  "range 3 has it"
REF=$(legacy_db sprref)
assert_exit 0 "$RB_BIN" -f "$(runbook "$REF" "$T/ref" 1 1)" execute --reason reference --yes
assert_eq "$(legacy_md5 "$REF")" "$(legacy_md5 "$LEG")" "legacy byte for byte as an unsplit run over the same source"
assert_eq "$(rb_psql "$REF" "select inserted || ' ' || updated from rollbackctl_ledger")" \
  "$(rb_psql "$LEG" "select sum(inserted) || ' ' || sum(updated) from rollbackctl_ledger where run_id = '$run_id'")" \
  "inserted and updated add up to the unsplit run's: no range counted twice"
assert_eq 0 "$(rb_psql "$LEG" "select count(*) from pg_stat_activity where datname = current_database() and application_name like 'rollbackctl%'")" \
  "no backend of the killed process lingers"

# --- 2. one snapshot for every range -------------------------------------------------------------------
LEG=$(legacy_db sprsnap)
slow_ledger "$LEG" "= 'payments#1'" 3
RB=$(runbook "$LEG" "$T/snap" 3 1)
"$RB_BIN" -f "$RB" execute --reason "snapshot" --yes >"$T/snap.log" 2>&1 &
pid=$!
for _ in $(seq 1500); do
  [[ $(rb_psql "$LEG" "select count(*) from pg_stat_activity where datname = current_database()
                       and application_name like 'rollbackctl%' and query = 'COMMIT' and state = 'active'") -ge 1 ]] && break
  sleep 0.02
done
# rows of range 1 and range 3, and a new key, in one transaction committed while range 1 commits
rb_psql "$NEW" "begin;
  update payments set memo = 'moved' where id in (20000, 240000);
  insert into payments values (600000, 7, '2026-11-02', 10.00, 8.00, 'moved', now());
  commit"
wait "$pid" || rb_fail "the run failed: $(cat "$T/snap.log")"
assert_eq 0 "$(rb_psql "$LEG" "select count(*) from history_a where memo = 'moved'")" \
  "the transaction committed during the run is in no range: not range 3's either, read after it"
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "the next run" --yes
assert_eq 3 "$(rb_psql "$LEG" "select count(*) from history_a where memo = 'moved'")" "and all of it is in the next run"
