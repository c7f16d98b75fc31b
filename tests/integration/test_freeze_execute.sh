#!/usr/bin/env bash
# The freeze phase through the real CLI against a private Kubernetes stand-in and PostgreSQL:
#   plan prints every request, checks permissions and that the objects exist, and changes nothing;
#   execute scales payroll-api to 0 (its 3 replicas journaled first), suspends the payroll CronJobs
#   (the list journaled), deletes the payroll Jobs with their pods (Background), saves a snapshot,
#   and journals the records at risk per sync table; the server-side state is asserted after each;
#   a crash after the scale PATCH took effect but before it was journaled done: resume keeps the
#   original count 3, not the 0 it set; the records at risk count legacy rows new deleted too
#   (fact records_deleted_by_table); a missing permission (RBAC) stops execute before anything
#   changes with "cannot patch deployments/scale ..."; a 403 answer to the PATCH itself: clear
#   error, exit 1, nothing else changed.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg

T=$(rb_tmpdir)
F=$T/kube
rb_kube_fake "$F"
rb_kube_isolate "$T/home"

NEW=$(rb_createdb frz_new)
LEG=$(rb_createdb frz_leg)
rb_psql "$NEW" "create table employees (id int primary key, created_at timestamptz not null);
  insert into employees select i, case when i <= 7 then '2026-11-03Z'::timestamptz else '2026-10-01Z' end
    from generate_series(1, 20) i;
  create table employee_payments (id int primary key, created_at timestamptz, status text);
  insert into employee_payments select i, '2026-11-05Z', case when i % 4 = 0 then 'void' else 'completed' end
    from generate_series(1, 40) i;" >/dev/null
# legacy also holds employees 98, 99 and payments 41, 42 that new no longer has: deletions at risk
rb_psql "$LEG" "create table employees (employee_id int primary key);
  insert into employees values (1), (2), (98), (99);
  create table payroll_history (payment_id int primary key);
  insert into payroll_history values (41), (42);" >/dev/null

write_runbook() {
  cat >"$1" <<YAML
$(rb_runbook_pg freeze-test "$2" "$NEW" "$LEG")
  cluster:
    driver: kubernetes
    kubeconfig: $KUBE_FAKE_KUBECONFIG
    namespace: payroll
freeze:
  - scale: { target: cluster, deployment: payroll-api, replicas: 0 }
  - suspend_cronjobs: { target: cluster, selector: app=payroll }
  - delete_jobs: { target: cluster, selector: app=payroll }
  - snapshot: { target: cluster }
sync:
  from: new
  to: legacy
  tables:
    - name: new_employees
      source: { table: employees, changed_since: created_at }
      target: { table: employees, key: [employee_id] }
      columns: { employee_id: id }
    - name: processed_payments
      source: { table: employee_payments, changed_since: created_at, where: "status = 'completed'" }
      target: { table: payroll_history, key: [payment_id] }
      columns: { payment_id: id }
YAML
}
RB=$T/runbook.yaml
write_runbook "$RB" "$T/state"

state() { kube_fake_state "$F" "$1"; }
replicas() { state '.objects["apps/v1/deployments"].payroll["payroll-api"].spec.replicas'; }
suspended() { state '[.objects["batch/v1/cronjobs"].payroll[] | select(.spec.suspend) | .metadata.name] | join(" ")'; }
jobs() { state '.objects["batch/v1/jobs"].payroll // {} | keys | join(" ")'; }
job_pods() { state '[.objects["v1/pods"].payroll[] | select(.metadata.labels["job-name"] != null) | .metadata.labels["job-name"]] | unique | join(" ")'; }
snapshot_state() { state '[(.objects["apps/v1/deployments"].payroll[] | .spec.replicas), (.objects["batch/v1/cronjobs"].payroll[] | .spec.suspend), (.objects["batch/v1/jobs"].payroll | keys)] | tojson'; }
initial=$(snapshot_state)

# --- plan: the exact requests, the objects as they are now, nothing changed ------------------------
kube_fake_ctl "$F" DELETE /_control/log >/dev/null
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_OUT" "PATCH /apis/apps/v1/namespaces/payroll/deployments/payroll-api/scale" "plan: the scale PATCH"
assert_contains "$RB_OUT" '{"metadata":{"resourceVersion":"<read>"},"spec":{"replicas":0}}' "plan: its merge patch body"
assert_contains "$RB_OUT" "now: 3 replicas" "plan read the current count"
assert_contains "$RB_OUT" "PATCH /apis/batch/v1/namespaces/payroll/cronjobs/payroll-nightly" "plan: cronjob to suspend"
assert_not_contains "$RB_OUT" "cronjobs/hr-sync" "plan: other cronjobs untouched"
assert_contains "$RB_OUT" "DELETE /apis/batch/v1/namespaces/payroll/jobs?propagationPolicy=Background&labelSelector=app%3Dpayroll" \
  "plan: the delete request"
assert_contains "$RB_OUT" "now matching: 'payroll-nightly-28871234', 'payroll-recalc-manual'" "plan: the jobs it would delete"
assert_contains "$RB_OUT" "GET /api/v1/namespaces/payroll/configmaps?limit=500" "plan: snapshot requests"
assert_contains "$RB_OUT" "now at risk in new_employees: 7" "plan: records at risk counted"
assert_contains "$RB_OUT" "now at risk in processed_payments: 30" "plan: with the table's where"
assert_contains "$RB_OUT" "now at risk in new_employees: 7 changed since cutover + 2 deleted in new" \
  "plan: legacy rows deleted in new are at risk too"
assert_contains "$RB_OUT" "now at risk in total: 37 changed since cutover + 4 deleted in new" "plan: the total"
assert_eq "$initial" "$(snapshot_state)" "plan changed nothing in the cluster"
assert_eq "GET POST" "$(kube_fake_log "$F" '[.[].method] | unique | join(" ")')" "plan sent only GETs and access reviews"
assert_eq "10" "$(kube_fake_log "$F" '[.[] | select(.path | endswith("selfsubjectaccessreviews"))] | length')" \
  "one access review per verb and resource the runbook needs"
assert_exit 0 "$RB_BIN" -f "$RB" -o json plan
assert_eq "freeze/scale-payroll-api freeze/suspend-cronjobs-app-payroll freeze/delete-jobs-app-payroll freeze/snapshot freeze/records-at-risk" \
  "$(jq -r '[.actions[] | select(.phase == "freeze") | .name] | join(" ")' <<<"$RB_OUT")" "the freeze actions, in order"
fld() { jq -c --arg n "$1" ".actions[] | select(.name == \$n) | .fields$2" <<<"$RB_OUT"; }
assert_eq '"PATCH /apis/batch/v1/namespaces/payroll/cronjobs/<each listed, not yet suspended>"' \
  "$(fld freeze/suspend-cronjobs-app-payroll '.requests[1] | .method + " " + .path')" "fields: the suspend request, for each one listed"
assert_eq '{"spec":{"suspend":true}}' "$(fld freeze/suspend-cronjobs-app-payroll '.requests[1].body')" "fields: its body"
assert_eq '["payroll-nightly","payroll-tax-export"]' "$(fld freeze/suspend-cronjobs-app-payroll '.observed.cronjobs | map(select(.suspended | not) | .name)')" \
  "fields: the cronjobs matching now, observed"
assert_eq '"DELETE"' "$(fld freeze/delete-jobs-app-payroll '.requests[1].method')" "fields: the delete request"
assert_eq '["payroll-nightly-28871234","payroll-recalc-manual"]' "$(fld freeze/delete-jobs-app-payroll '.observed.jobs')" \
  "fields: the jobs it would delete, observed"
assert_eq '{"new_employees":7,"processed_payments":30}' "$(fld freeze/records-at-risk '.observed.changed_by_table')" \
  "fields: the records at risk, observed"
assert_eq '{"new_employees":2,"processed_payments":2}' "$(fld freeze/records-at-risk '.observed.deleted_by_table')"
assert_exit 0 "$RB_BIN" -f "$RB" plan --offline
assert_contains "$RB_OUT" "PATCH /apis/apps/v1/namespaces/payroll/deployments/payroll-api/scale" "offline plan prints requests too"

# --- execute -------------------------------------------------------------------------------------
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "freeze test" --yes
assert_contains "$RB_OUT" "'payroll-api' scaled from 3 to 0 replicas"
assert_eq "0" "$(replicas)" "payroll-api at 0 replicas"
assert_eq "0" "$(state '[.objects["v1/pods"].payroll[] | select(.metadata.ownerReferences[0].name == "payroll-api")] | length')" \
  "no payroll-api pods left"
assert_eq "payroll-nightly payroll-tax-export" "$(suspended)" "the payroll cronjobs suspended, hr-sync not"
assert_eq "hr-sync-28871200" "$(jobs)" "the payroll jobs deleted, the hr job kept"
assert_eq "hr-sync-28871200" "$(job_pods)" "the deleted jobs' pods went with them (Background)"
assert_eq "Background" "$(kube_fake_log "$F" '[.[] | select(.method == "DELETE")] | .[0].query.propagationPolicy')" \
  "DELETE with propagationPolicy=Background"
assert_eq "1" "$(state '.objects["apps/v1/deployments"].payroll["legacy-payroll-worker"] | .metadata.generation')" \
  "other deployments untouched"

run_dir=$(ls -d "$T"/state/runs/*)
journal=$run_dir/journal.jsonl
ev() { jq -c "select(.action == \"$1\" and .event == \"$2\") | .data" "$journal" | tail -n 1; }
assert_eq "3" "$(ev freeze/scale-payroll-api progress | jq .original_replicas)" "original count journaled before the change"
assert_eq "3 0" "$(ev freeze/scale-payroll-api done | jq -r '"\(.original_replicas) \(.replicas)"')" "scale result"
assert_eq '["payroll-nightly","payroll-tax-export"]' "$(ev freeze/suspend-cronjobs-app-payroll progress | jq -c .suspended)" \
  "the cronjobs to suspend journaled before patching"
assert_eq '["payroll-nightly","payroll-tax-export"]' "$(ev freeze/suspend-cronjobs-app-payroll done | jq -c .suspended)" "suspend result"
assert_eq '["payroll-nightly-28871234","payroll-recalc-manual"]' "$(ev freeze/delete-jobs-app-payroll done | jq -c .deleted)" "delete result"
saved=$(ev freeze/delete-jobs-app-payroll done | jq -r .saved)
assert_eq "600 2" "$(stat -c %a "$saved") $(jq '.items | length' "$saved")" "the deleted jobs saved (0600) before deletion"
snap=$(ev freeze/snapshot done | jq -r .file)
assert_eq "600" "$(stat -c %a "$snap")" "snapshot 0600"
assert_eq '{"deployments":2,"statefulsets":1,"cronjobs":3,"jobs":1,"configmaps":1,"services":1}' \
  "$(ev freeze/snapshot done | jq -c .counts)" "snapshot counts"
assert_eq "0" "$(jq '[.items[] | select(.kind == "Secret")] | length' "$snap")" "no Secret in the snapshot"
assert_eq '{"new_employees":7,"processed_payments":30}' \
  "$(jq -c 'select(.event == "fact" and .data.key == "records_at_risk_by_table") | .data.value' "$journal")" \
  "records_at_risk_by_table journaled as a fact"
assert_eq '{"new_employees":2,"processed_payments":2}' \
  "$(jq -c 'select(.event == "fact" and .data.key == "records_deleted_by_table") | .data.value' "$journal")" \
  "records_deleted_by_table journaled as a fact: the legacy keys new no longer has"
assert_eq "37 4" "$(ev freeze/records-at-risk done | jq -r '"\(.total) \(.deleted_total)"')" "the action's totals"
assert_not_contains "$(cat "$journal")" "$KUBE_FAKE_TOKEN" "the bearer token is not in the journal"
assert_not_contains "$RB_OUT$RB_ERR" "$KUBE_FAKE_TOKEN" "the bearer token is not in the output"

# --- crash after the scale PATCH took effect, before it was journaled done: resume keeps 3 -------
kube_fake_ctl "$F" POST /_control/objects "$(jq -c '{items: [.items[] | select(.kind == "Deployment" or .kind == "CronJob" or .kind == "Job")]}' \
  "$RB_SOURCE_DIR/tests/fakes/payroll-cluster.json")" >/dev/null
assert_eq "3" "$(replicas)" "cluster reset to 3 replicas"
RB2=$T/crash.yaml
write_runbook "$RB2" "$T/state-crash"
kube_fake_ctl "$F" DELETE /_control/log >/dev/null
kube_fake_fault "$F" '{"count":1,"hang":60,"after":true,"method":"PATCH","path":"/deployments/payroll-api/scale"}'
# (in a subshell whose stderr is discarded, so the shell's "Killed" notice stays out of the output)
crashname=crash
( "$RB_BIN" -f "$RB2" execute --reason "crash test" --yes >"$T/crash.out" 2>&1 & echo $! >"$T/crash.pid"; wait ) 2>/dev/null &
sub=$!
for i in $(seq 1 200); do
  [ "$(kube_fake_log "$F" '[.[] | select(.status == "hang")] | length')" = 1 ] && break
  sleep 0.05
done
assert_eq "0" "$(replicas)" "the PATCH took effect on the server"
kill -9 "$(cat "$T/$crashname.pid")"
wait "$sub" || true
crash_journal=$(ls "$T"/state-crash/runs/*/journal.jsonl)
assert_eq "started" "$(jq -r 'select(.action == "freeze/scale-payroll-api") | .event' "$crash_journal" | grep -v progress | tail -n 1)" \
  "the scale action was in flight at the crash"
assert_exit 0 "$RB_BIN" -f "$RB2" resume
assert_contains "$RB_OUT" "'payroll-api' scaled from 3 to 0 replicas" "resume reports the original count"
assert_eq "3" "$(jq -c 'select(.action == "freeze/scale-payroll-api" and .event == "done") | .data.original_replicas' "$crash_journal")" \
  "the journal keeps the original 3, not the 0 set before the crash"
assert_eq "1" "$(jq -c 'select(.action == "freeze/scale-payroll-api" and .event == "progress")' "$crash_journal" | wc -l | tr -d ' ')" \
  "the original was read once, before the crash"
assert_eq "0" "$(replicas)" "still at 0 after resume"
assert_eq "payroll-nightly payroll-tax-export" "$(suspended)" "resume went on with the rest"

# --- crash in the middle of suspending: resume still reports both cronjobs as suspended by this run
kube_fake_ctl "$F" POST /_control/objects "$(jq -c '{items: [.items[] | select(.kind == "Deployment" or .kind == "CronJob" or .kind == "Job")]}' \
  "$RB_SOURCE_DIR/tests/fakes/payroll-cluster.json")" >/dev/null
RB5=$T/crash2.yaml
write_runbook "$RB5" "$T/state-crash2"
kube_fake_ctl "$F" DELETE /_control/log >/dev/null
kube_fake_fault "$F" '{"count":1,"hang":60,"after":true,"method":"PATCH","path":"/cronjobs/payroll-nightly"}'
# (in a subshell whose stderr is discarded, so the shell's "Killed" notice stays out of the output)
crashname=crash2
( "$RB_BIN" -f "$RB5" execute --reason "crash test 2" --yes >"$T/crash2.out" 2>&1 & echo $! >"$T/crash2.pid"; wait ) 2>/dev/null &
sub=$!
for i in $(seq 1 200); do
  [ "$(kube_fake_log "$F" '[.[] | select(.status == "hang")] | length')" = 1 ] && break
  sleep 0.05
done
kill -9 "$(cat "$T/$crashname.pid")"
wait "$sub" || true
assert_eq "payroll-nightly" "$(suspended)" "one cronjob suspended when the run died"
assert_exit 0 "$RB_BIN" -f "$RB5" resume
crash2=$(ls "$T"/state-crash2/runs/*/journal.jsonl)
assert_eq '["payroll-nightly","payroll-tax-export"] []' \
  "$(jq -c 'select(.action == "freeze/suspend-cronjobs-app-payroll" and .event == "done") | .data | [.suspended, .already_suspended]' "$crash2" | jq -r '"\(.[0] | tojson) \(.[1] | tojson)"')" \
  "after resume both count as suspended by this run, none as found suspended"
assert_eq "payroll-nightly payroll-tax-export" "$(suspended)" "both suspended after resume"

# --- RBAC: no patch on deployments/scale -> execute stops before changing anything --------------
kube_fake_ctl "$F" POST /_control/objects "$(jq -c '{items: [.items[] | select(.kind == "Deployment" or .kind == "CronJob" or .kind == "Job")]}' \
  "$RB_SOURCE_DIR/tests/fakes/payroll-cluster.json")" >/dev/null
initial=$(snapshot_state)
kube_fake_ctl "$F" POST /_control/rbac '{"users":{"rollbackctl":[
  {"verbs":["get","list","patch","deletecollection"],"apiGroups":["*"],
   "resources":["deployments","statefulsets","cronjobs","jobs","configmaps","services"]},
  {"verbs":["get"],"apiGroups":["apps"],"resources":["deployments/scale"]}]}}' >/dev/null
RB3=$T/rbac.yaml
write_runbook "$RB3" "$T/state-rbac"
kube_fake_ctl "$F" DELETE /_control/log >/dev/null
assert_exit 1 "$RB_BIN" -f "$RB3" execute --reason "rbac test" --yes
assert_contains "$RB_ERR" "cannot patch deployments/scale 'payroll-api' in namespace 'payroll'" "the missing permission, named"
assert_contains "$RB_ERR" "nothing was changed" "the hint says nothing changed"
assert_eq "$initial" "$(snapshot_state)" "nothing changed in the cluster"
assert_eq "0" "$(kube_fake_log "$F" '[.[] | select(.path | endswith("selfsubjectaccessreviews") | not)] | length')" \
  "only access reviews were sent"
assert_exit 1 "$RB_BIN" -f "$RB3" plan
assert_contains "$RB_ERR" "cannot patch deployments/scale 'payroll-api' in namespace 'payroll'" "plan reports it too"

# --- a 403 on the PATCH itself (the access review said yes): clear error, exit 1, nothing else ---
kube_fake_ctl "$F" POST /_control/rbac '{"users":{"rollbackctl":[{"verbs":["*"],"apiGroups":["*"],"resources":["*"]}]}}' >/dev/null
kube_fake_fault "$F" '{"count":1,"status":403,"method":"PATCH","path":"/scale","message":"deployments.apps \"payroll-api\" is forbidden: admission webhook \"freeze-guard\" denied the request"}'
RB4=$T/forbidden.yaml
write_runbook "$RB4" "$T/state-403"
assert_exit 1 "$RB_BIN" -f "$RB4" execute --reason "403 test" --yes
assert_contains "$RB_ERR" "unable to scale 'payroll-api' in namespace 'payroll': 403 forbidden: deployments.apps \"payroll-api\" is forbidden: admission webhook" \
  "403 shown as the API says it"
assert_eq "$initial" "$(snapshot_state)" "nothing else changed after the 403"
assert_eq "1" "$(kube_fake_log "$F" '[.[] | select(.status == 403)] | length')" "403 is not retried"
