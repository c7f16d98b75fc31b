#!/usr/bin/env bash
# sync.presync and the records at risk (issue 17 "Downtime"): the count of the rows changed since
# cutover and the deletion scan (both databases' keys) run before the freeze, as
# presync/records-at-risk, and freeze/records-at-risk adds only the rows changed since that count's
# instant. Against real PostgreSQL and the Kubernetes stand-in:
#   - plan: presync/records-at-risk counts now; the freeze's count reads from its instant;
#   - execute, with new inserting, updating and deleting while the pre-sync commits: the facts
#     records_at_risk_by_table (the pre-sync's 5000 + the 12 rows written after) and
#     records_deleted_by_table (the 3 the pre-sync's scan found) keep their shapes, the scan's
#     action ends before the first freeze action, and the freeze's action scans no keys;
#   - deletions.policy report: the 3 deletions the pre-sync found and left in legacy are found
#     again by the sync phase's pass, with the one made meanwhile; the report counts each deleted
#     key once (records at risk, records lost).
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg
T=$(rb_tmpdir)
F=$T/kube
rb_kube_fake "$F"
rb_kube_isolate "$T/home"

# new stamps every write with its transaction's now(); rows 1..100 are from before the cutover
NEW=$(rb_createdb rnew)
rb_psql "$NEW" "create table payments (id int primary key, amount numeric(12,2) not null,
    changed_at timestamptz not null);
  create index on payments (changed_at);
  create function stamp() returns trigger language plpgsql as \$\$
    begin new.changed_at := case when tg_op = 'INSERT' then coalesce(new.changed_at, now()) else now() end;
    return new; end \$\$;
  insert into payments select i, i, '2026-10-01Z' from generate_series(1, 100) i;
  insert into payments select i, i, '2026-11-05Z' from generate_series(101, 5100) i;
  create trigger stamp before insert or update on payments for each row execute function stamp();
  delete from payments where id in (1, 2, 3);" >/dev/null
# legacy has the 100 migrated rows, 3 of which new has deleted since
LEG=$(rb_createdb rleg)
rb_psql "$LEG" "create table payroll_history (payment_id int primary key, amount numeric(12,2) not null);
  insert into payroll_history select i, i from generate_series(1, 100) i;" >/dev/null
RB=$T/runbook.yaml
cat >"$RB" <<YAML
$(rb_runbook_pg presync-risk "$T/state" "$NEW" "$LEG")
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
  tables:
    - name: payments
      source: { table: payments, changed_since: changed_at }
      target: { table: payroll_history, key: [payment_id] }
      columns: { payment_id: id, amount: amount }
      deletions: { policy: report }
restore:
  - name: Start legacy
    run: [true]
YAML
assert_exit 0 "$RB_BIN" -f "$RB" validate

# --- plan: the full count before the freeze, the delta in it --------------------------------------
assert_exit 0 "$RB_BIN" -f "$RB" -o json plan
P=$RB_OUT
assert_eq '"presync"' "$(jq -c '.actions[] | select(.name == "presync/records-at-risk") | .phase' <<<"$P")" \
  "plan: the records at risk are counted in phase presync"
assert_eq '"presync/records-at-risk"' "$(jq -c '[.actions[] | select(.phase == "presync")][0].name' <<<"$P")" \
  "plan: first in the phase, before a pre-sync table applies a deletion"
assert_eq '{"payments":5000}' "$(jq -c '.actions[] | select(.name == "presync/records-at-risk") | .fields.observed.changed_by_table' <<<"$P")" \
  "plan: the pre-sync's count now"
assert_eq '{"payments":3}' "$(jq -c '.actions[] | select(.name == "presync/records-at-risk") | .fields.observed.deleted_by_table' <<<"$P")" \
  "plan: the pre-sync's deletion scan now"
assert_contains "$(jq -r '.actions[] | select(.name == "freeze/records-at-risk") | .fields.tables[0].sql' <<<"$P")" \
  "\"changed_at\" >= '<the pre-sync''s count''s instant>'" "plan: the freeze counts from the pre-sync's count's instant"
assert_eq '"those presync/records-at-risk found"' \
  "$(jq -c '.actions[] | select(.name == "freeze/records-at-risk") | .fields.deletions' <<<"$P")" \
  "plan: the freeze scans no keys"

# --- execute: new writes while the pre-sync commits ------------------------------------------------
# the pre-sync's commit takes 3 s (a deferred trigger on the ledger): new writes meanwhile
rb_psql "$LEG" "create table rollbackctl_ledger (run_id text not null, table_name text not null, rows bigint not null,
    checksum text not null, applied_at timestamptz not null default now(), inserted bigint not null default 0,
    updated bigint not null default 0, unchanged bigint not null default 0, deleted bigint not null default 0,
    deletions_found bigint not null default 0, primary key (run_id, table_name));
  create function slow_commit() returns trigger language plpgsql as \$\$
    begin if new.table_name like 'presync/%' then perform pg_sleep(3); end if; return null; end \$\$;
  create constraint trigger slow_commit after insert on rollbackctl_ledger deferrable initially deferred
    for each row execute function slow_commit();" >/dev/null
"$RB_BIN" -f "$RB" execute --reason "presync risk test" --yes >"$T/exec.log" 2>&1 &
pid=$!
rb_wait_sql "$LEG" "select count(*) from pg_stat_activity where datname = current_database()
  and application_name like 'rollbackctl%' and query = 'COMMIT' and state = 'active'" 1 ||
  rb_fail "the pre-sync was not seen committing: $(cat "$T/exec.log")"
# 10 new rows, 2 rows from before the cutover changed (neither was at risk before), 1 deletion
rb_psql "$NEW" "insert into payments select i, i from generate_series(20001, 20010) i;
  update payments set amount = 777.77 where id = 7;
  update payments set amount = 555.55 where id = 50;
  delete from payments where id = 4;" >/dev/null
wait "$pid" || rb_fail "execute failed: $(cat "$T/exec.log")"
RUN=$(ls "$T/state/runs")
RD=$T/state/runs/$RUN
J=$RD/journal.jsonl
fact() { grep '"event":"fact"' "$J" | jq -c --arg k "$1" 'select(.data.key == $k) | .data.value' | tail -n 1; }
assert_eq '{"payments":5012}' "$(fact records_at_risk_by_table)" \
  "records_at_risk_by_table: the pre-sync's 5000 + the 12 rows written after its count"
assert_eq '{"payments":3}' "$(fact records_deleted_by_table)" \
  "records_deleted_by_table: the pre-sync's scan, its shape kept"
assert_eq '{"payments":5000}' "$(fact presync_at_risk | jq -c .records_at_risk_by_table)" \
  "fact presync_at_risk: the count before the freeze"
fr=$(jq -c 'select(.action == "freeze/records-at-risk" and .event == "done") | .data' "$J" | tail -n 1)
assert_eq '{"payments":12}' "$(jq -c .presync.changed_since_by_table <<<"$fr")" \
  "the freeze counted only the rows changed since the pre-sync's count"
assert_eq "$(fact presync_at_risk | jq -r .since)" "$(jq -r .presync.since <<<"$fr")" \
  "the freeze's count starts at the pre-sync's count's instant"
assert_eq '5012 3' "$(jq -r '"\(.total) \(.deleted_total)"' <<<"$fr")" "the freeze's result: totals"
# the scan is out of the downtime: done before the freeze's first action started
scan_end=$(jq -r 'select(.action == "presync/records-at-risk" and .event == "done") | .ts' "$J")
freeze_start=$(jq -r 'select(.phase == "freeze" and .event == "started") | .ts' "$J" | head -n 1)
[[ -n $scan_end && -n $freeze_start && $scan_end < $freeze_start ]] ||
  rb_fail "the deletion scan ended at '$scan_end', not before the freeze's first action at '$freeze_start'"
rb_ok "the count and the deletion scan ended before the freeze ($scan_end < $freeze_start)"
assert_eq "$freeze_start" "$(jq -r '.metrics.downtime_started_at' "$RD/report.json")" \
  "downtime starts at the freeze's first action, after the scan"

# policy report: each deleted key counted once across the two passes
assert_eq 4 "$(jq '.sync_tables[] | select(.table == "payments") | .deletions_found' "$RD/report.json")" \
  "the sync phase's pass found the 3 deletions again and the one made meanwhile"
assert_eq 4 "$(jq '.sync_tables[] | select(.table == "payments") | .deletions_not_applied' "$RD/report.json")" \
  "the report: 4 deletions not applied"
# at risk: the pre-sync's 5000 rows and 3 deletions, then the 12 rows and the 1 deletion after it
assert_eq 5016 "$(jq '.metrics.records_at_risk' "$RD/report.json")" \
  "records at risk: each row and each deleted key once (5000 + 12 rows, 3 + 1 deletions)"
assert_eq 4 "$(jq '.metrics.records_lost' "$RD/report.json")" "records lost: the 4 deletions, once each"
assert_contains "$(cat "$T/state/metrics.prom")" \
  "rollbackctl_records_lost{runbook=\"presync-risk\"} 4" "metrics: the same figure"
assert_eq 100 "$(rb_psql "$LEG" "select count(*) from payroll_history where payment_id <= 100")" \
  "policy report: legacy keeps the deleted rows"
