#!/usr/bin/env bash
# sync.presync (issue 17 "Downtime"): the sync tables are synced once before the freeze, while the
# new system still runs, and the sync phase then copies only what changed from the pre-sync's
# instant on. Against real PostgreSQL and the Kubernetes stand-in (the freeze starts the downtime):
#   - plan shows both passes: presync/payments with the rows changed since cutover, and
#     sync/payments reading from the pre-sync's instant (rows known once it has run);
#   - execute: rows inserted and updated in new while the pre-sync commits, and a transaction that
#     began before the pre-sync and committed after its snapshot, all arrive in legacy exactly
#     once; one ledger row per pass; the second pass copies only the few changed rows;
#   - the report's downtime starts after the pre-sync: it covers the second pass only;
#   - a kill between the passes (the freeze's PATCH hanging) and resume: the pre-sync is not
#     applied again, rows changed meanwhile arrive, legacy ends equal to new.
# test_presync_jobs.sh runs it again with sync.jobs: 2 (the tables on streams of their own).
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg
T=$(rb_tmpdir)
F=$T/kube
rb_kube_fake "$F"
rb_kube_isolate "$T/home"

# new stamps every write with its transaction's now(), as the runbook's changed_since assumes
new_db() {
  local db; db=$(rb_createdb "$1")
  rb_psql "$db" "create table payments (id int primary key, amount numeric(12,2) not null,
      changed_at timestamptz not null);
    create function stamp() returns trigger language plpgsql as \$\$
      begin new.changed_at := case when tg_op = 'INSERT' then coalesce(new.changed_at, now()) else now() end;
      return new; end \$\$;
    insert into payments select i, i, '2026-10-01Z' from generate_series(1, 100) i;
    insert into payments select i, i, '2026-11-05Z' from generate_series(101, 5100) i;
    create trigger stamp before insert or update on payments for each row execute function stamp();
    create table go (x int);" >/dev/null
  echo "$db"
}
legacy_db() {
  local db; db=$(rb_createdb "$1")
  rb_psql "$db" "create table payroll_history (payment_id int primary key, amount numeric(12,2) not null);
    insert into payroll_history select i, i from generate_series(1, 100) i;" >/dev/null
  echo "$db"
}
write_runbook() { # FILE STATE NEW LEGACY
  cat >"$1" <<YAML
$(rb_runbook_pg presync-test "$2" "$3" "$4")
  cluster:
    driver: kubernetes
    kubeconfig: $KUBE_FAKE_KUBECONFIG
    namespace: payroll
freeze:
  - scale: { target: cluster, deployment: payroll-api, replicas: 0 }
sync:
  from: new
  to: legacy
  presync: true
$([[ ${RB_SYNC_JOBS:-1} -gt 1 ]] && echo "  jobs: $RB_SYNC_JOBS")
  tables:
    - name: payments
      source: { table: payments, changed_since: changed_at }
      target: { table: payroll_history, key: [payment_id] }
      columns: { payment_id: id, amount: amount }
restore:
  - name: Start legacy
    run: [true]
YAML
}
rows() { rb_psql "$1" "select md5(coalesce(string_agg(id || ':' || amount, ',' order by id), '')) from (${2:-select id, amount from payments}) t"; }
legacy_rows() { rows "$1" "select payment_id as id, amount from payroll_history"; }

NEW=$(new_db pnew)
LEG=$(legacy_db pleg)
RB=$T/runbook.yaml
write_runbook "$RB" "$T/state" "$NEW" "$LEG"
assert_exit 0 "$RB_BIN" -f "$RB" validate

# --- plan: both passes, the rows each expects ---------------------------------------------------
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_OUT" "presync/payments" "plan: the pre-sync's action"
assert_contains "$RB_OUT" "pre-sync (sync.presync): before the freeze" "plan: the pre-sync said"
assert_contains "$RB_OUT" "rows at risk: 5000" "plan: the pre-sync expects every row changed since cutover"
assert_contains "$RB_OUT" "rows at risk: changed in new from the pre-sync's snapshot on" \
  "plan: the sync phase expects only what changes after the pre-sync"
assert_contains "$RB_OUT" "\"changed_at\" >= '<the pre-sync''s instant>'::timestamptz" "plan: the second pass's bound"
plan_order=$(grep -nE '^(presync|freeze|sync)$' <<<"$RB_OUT" | cut -d: -f2 | paste -sd' ')
assert_eq "presync freeze sync" "$plan_order" "plan: presync before the freeze, sync after"
assert_exit 0 "$RB_BIN" -f "$RB" -o json plan
assert_eq '"presync"' "$(jq -c '.actions[] | select(.name == "presync/payments") | .fields.pass' <<<"$RB_OUT")" "fields: pass presync"
assert_eq '5000' "$(jq -c '.actions[] | select(.name == "presync/payments") | .fields.observed.rows' <<<"$RB_OUT")" "fields: the pre-sync's rows"
assert_eq '"final"' "$(jq -c '.actions[] | select(.name == "sync/payments") | .fields.pass' <<<"$RB_OUT")" "fields: pass final"
assert_eq 'null' "$(jq -c '.actions[] | select(.name == "sync/payments") | .fields.observed.rows' <<<"$RB_OUT")" "fields: the second pass's rows not known yet"

# --- execute, with new writing while the pre-sync commits ----------------------------------------
# the pre-sync's commit takes 3 s (a deferred trigger on the ledger): new writes meanwhile
rb_psql "$LEG" "create table rollbackctl_ledger (run_id text not null, table_name text not null, rows bigint not null,
    checksum text not null, applied_at timestamptz not null default now(), inserted bigint not null default 0,
    updated bigint not null default 0, unchanged bigint not null default 0, deleted bigint not null default 0,
    deletions_found bigint not null default 0, primary key (run_id, table_name));
  create function slow_commit() returns trigger language plpgsql as \$\$
    begin if new.table_name like 'presync/%' then perform pg_sleep(3); end if; return null; end \$\$;
  create constraint trigger slow_commit after insert on rollbackctl_ledger deferrable initially deferred
    for each row execute function slow_commit();" >/dev/null
# a transaction open in new before the pre-sync begins, committed only after its snapshot: its row
# is stamped before the pre-sync's instant read would be if it were now()
rb__psql_raw "$NEW" "begin; insert into payments values (30001, 1.01);
  do \$\$ begin while not exists (select 1 from go) loop perform pg_sleep(0.05); end loop; end \$\$;
  commit;" >"$T/bg.log" 2>&1 &
bg=$!
rb_wait_sql "$NEW" "select count(*) from pg_stat_activity where datname = current_database()
  and query like 'begin; insert into payments values (30001%'" 1 200 || rb_fail "the open transaction did not start"
"$RB_BIN" -f "$RB" execute --reason "presync test" --yes >"$T/exec.log" 2>&1 &
pid=$!
rb_wait_sql "$LEG" "select count(*) from pg_stat_activity where datname = current_database()
  and application_name like 'rollbackctl%' and query = 'COMMIT' and state = 'active'" 1 500 || true
assert_eq 1 "$(rb_psql "$LEG" "select count(*) from pg_stat_activity where datname = current_database()
        and application_name like 'rollbackctl%' and query = 'COMMIT' and state = 'active'")" "the pre-sync is committing"
rb_psql "$NEW" "insert into payments select i, i from generate_series(20001, 20010) i;
  update payments set amount = 777.77 where id = 7;
  update payments set amount = 555.55 where id = 500;
  insert into go values (1);" >/dev/null
wait "$bg" || rb_fail "the open transaction in new failed: $(cat "$T/bg.log")"
wait "$pid" || rb_fail "execute failed: $(cat "$T/exec.log")"
out=$(cat "$T/exec.log")
assert_contains "$out" "presync/payments" "execute: the pre-sync ran"
assert_contains "$out" "5000 at risk: 5000 inserted, 0 updated, 0 unchanged" "the pre-sync: every row since cutover"
assert_eq "$(rows "$NEW")" "$(legacy_rows "$LEG")" "legacy equals new: every change of both passes arrived"
assert_eq 5111 "$(rb_psql "$LEG" "select count(*) from payroll_history")" "each row exactly once"
assert_eq "1.01" "$(rb_psql "$LEG" "select amount from payroll_history where payment_id = 30001")" \
  "the transaction open across the pre-sync's snapshot arrived"
RUN=$(ls "$T/state/runs")
RD=$T/state/runs/$RUN
J=$RD/journal.jsonl
assert_eq "payments|13|11|2 presync/payments|5000|5000|0" \
  "$(rb_psql "$LEG" "select table_name || '|' || inserted + updated || '|' || inserted || '|' || updated from rollbackctl_ledger where run_id = '$RUN' order by 1" | paste -sd' ')" \
  "one ledger row per pass; the second pass changed only the 13 rows written after the pre-sync began"
second=$(rb_psql "$LEG" "select rows from rollbackctl_ledger where run_id = '$RUN' and table_name = 'payments'")
((second >= 13 && second < 100)) || rb_fail "the second pass read $second rows, not just those changed since the pre-sync"
rb_ok "the second pass read $second rows (the 13 changed and those the instant's margin re-reads)"
since=$(grep '"event":"fact"' "$J" | jq -r 'select(.data.key == "presync") | .data.value.since' | tail -n 1)
[[ $since =~ ^2[0-9-]+T[0-9:.]+Z$ ]] || rb_fail "no pre-sync instant journaled: '$since'"
rb_ok "the pre-sync's instant is journaled ($since)"
assert_contains "$(grep '"event":"started"' "$J" | jq -r 'select(.action == "sync/payments") | .data.summary')" \
  "changed since the pre-sync's snapshot" "the second pass reads from the pre-sync's instant"

# downtime: from the freeze's first action, after the pre-sync's last one ended
presync_end=$(jq -r 'select(.phase == "presync" and .event == "phase_done") | .ts' "$J")
down_start=$(jq -r '.metrics.downtime_started_at' "$RD/report.json")
[[ -n $presync_end && $down_start > $presync_end ]] || rb_fail "downtime started at $down_start, before the pre-sync ended at $presync_end"
rb_ok "downtime starts after the pre-sync ($down_start > $presync_end)"
assert_eq "$down_start" "$(jq -r 'select(.phase == "freeze" and .event == "started") | .ts' "$J" | head -n 1)" \
  "downtime starts at the freeze's first action"
# the pre-sync's 3 s commit lies outside it; the run itself took longer than the downtime by that
assert_eq true "$(jq '.metrics.downtime_ms < .metrics.execution_ms - 3000' "$RD/report.json")" \
  "the report's downtime leaves the pre-sync out"
assert_eq 5013 "$(jq '.metrics.records_at_risk' "$RD/report.json")" "records at risk: the pre-sync's 5000 and the 13 after it, none twice"

# --- killed between the passes, then resumed -----------------------------------------------------
NEW2=$(new_db pnew2)
LEG2=$(legacy_db pleg2)
RB2=$T/runbook2.yaml
write_runbook "$RB2" "$T/state2" "$NEW2" "$LEG2"
# payroll-api back to 3 replicas (the first run scaled it to 0); then its scale PATCH hangs: the
# run is caught between the passes
kube_fake_api "$F" PATCH /apis/apps/v1/namespaces/payroll/deployments/payroll-api/scale \
  '{"spec":{"replicas":3}}' application/merge-patch+json >/dev/null
kube_fake_fault "$F" '{"count":1,"hang":20,"method":"PATCH","path":"scale"}'
"$RB_BIN" -f "$RB2" execute --reason "presync kill" --yes >"$T/kill.log" 2>&1 &
pid=$!
J2=
for _ in $(seq 1000); do
  J2=$(compgen -G "$T/state2/runs/*/journal.jsonl" || true)
  [[ -n $J2 ]] && grep -q '"phase":"freeze".*"event":"started"\|"event":"started".*"phase":"freeze"' "$J2" && break
  sleep 0.02
done
sleep 0.5
kill -9 "$pid" 2>/dev/null || rb_fail "execute ended before the kill: $(cat "$T/kill.log")"
wait "$pid" 2>/dev/null || true
kube_fake_ctl "$F" DELETE /_control/faults >/dev/null
assert_eq 1 "$(jq -c 'select(.action == "presync/payments" and .event == "done")' "$J2" | wc -l)" "killed after the pre-sync committed"
assert_eq 0 "$(jq -c 'select(.phase == "sync" and .event == "started")' "$J2" | wc -l)" "killed before the second pass began"
rb_psql "$NEW2" "insert into payments select i, i from generate_series(40001, 40005) i;
  update payments set amount = 1.23 where id = 4000;" >/dev/null
assert_exit 0 "$RB_BIN" -f "$RB2" resume
assert_contains "$RB_OUT$RB_ERR" "presync/payments: already done in an earlier attempt, not applied again" "resume skips the committed pre-sync"
assert_eq "$(rows "$NEW2")" "$(legacy_rows "$LEG2")" "after the kill and resume legacy equals new"
assert_eq 5105 "$(rb_psql "$LEG2" "select count(*) from payroll_history")" "each row exactly once"
RUN2=$(basename "$(dirname "$J2")")
assert_eq "payments|5|1 presync/payments|5000|0" \
  "$(rb_psql "$LEG2" "select table_name || '|' || inserted || '|' || updated from rollbackctl_ledger where run_id = '$RUN2' order by 1" | paste -sd' ')" \
  "one ledger row per pass across the kill"
assert_eq 1 "$(jq -c 'select(.action == "presync/payments" and .event == "done")' "$J2" | wc -l)" "the pre-sync journaled done once"
