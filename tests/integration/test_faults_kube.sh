#!/usr/bin/env bash
# Kubernetes API faults (issue 15 "Faults") at freeze (scale payroll-api to 0, suspend the payroll
# CronJobs) and at restore's scale step (legacy-payroll-worker to 2), whole runs against a private
# stand-in (tests/fakes/kube_apiserver.py, its /_control/faults queue). Every case ends in the same
# cluster state, read from the stand-in: payroll-api 0, legacy-payroll-worker 2, the app=payroll
# CronJobs suspended and hr-sync not.
#  - survived: 500s, 429 with Retry-After, 409 Conflicts, a request hanging past the target's
#    deadline (its answer lost after it was applied), each at both steps; the run succeeds;
#  - stopping cleanly: a 500 that does not stop at freeze, a 409 at every attempt at restore's
#    scale, a server hanging at every attempt: exit 1 with a clear message (the 409 one says it was
#    tried 5 times and what kept conflicting), nothing after the failed step done; once the fault
#    is gone, resume reaches the same state.
# (test_kube_adapter tests the adapter's retries one request at a time, freeze only.)
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
F=$T/kube
rb_kube_fake "$F"
rb_kube_isolate "$T/home"

replicas() { kube_fake_state "$F" ".objects[\"apps/v1/deployments\"].payroll[\"$1\"].spec.replicas"; }
suspended() { kube_fake_state "$F" ".objects[\"batch/v1/cronjobs\"].payroll[\"$1\"].spec.suspend"; }
scale_to() { # DEPLOYMENT N: set the stand-in's state back (the admin token, not rollbackctl)
  kube_fake_api "$F" PATCH "/apis/apps/v1/namespaces/payroll/deployments/$1/scale" \
    "{\"spec\":{\"replicas\":$2}}" application/merge-patch+json >/dev/null
}
unsuspend() {
  kube_fake_api "$F" PATCH "/apis/batch/v1/namespaces/payroll/cronjobs/$1" '{"spec":{"suspend":false}}' \
    application/merge-patch+json >/dev/null
}
reset_cluster() {
  scale_to payroll-api 3
  scale_to legacy-payroll-worker 0
  unsuspend payroll-nightly
  unsuspend payroll-tax-export
  kube_fake_ctl "$F" DELETE /_control/faults >/dev/null
  kube_fake_ctl "$F" DELETE /_control/log >/dev/null
}
end_state() { # WHAT: the one end state every case reaches
  assert_eq "0 2" "$(replicas payroll-api) $(replicas legacy-payroll-worker)" "$1: payroll-api 0, legacy workers 2"
  assert_eq "true true false" "$(suspended payroll-nightly) $(suspended payroll-tax-export) $(suspended hr-sync)" \
    "$1: the payroll CronJobs suspended, hr-sync not"
}
fault() { kube_fake_fault "$F" "$1"; }
statuses() { # METHOD PATH_SUBSTRING: the statuses the stand-in answered, in order
  kube_fake_log "$F" "[.[] | select(.method == \"$1\" and (.path | contains(\"$2\"))) | .status | tostring] | join(\" \")"
}
FREEZE_SCALE=deployments/payroll-api/scale
RESTORE_SCALE=deployments/legacy-payroll-worker/scale
CRON=cronjobs/payroll-nightly

RB=$T/runbook.yaml
runbook() { # STATE_NAME
  cat >"$RB" <<YAML
$(rb_runbook_header kube-faults "$T/state-$1")
  cluster:
    driver: kubernetes
    kubeconfig: $KUBE_FAKE_KUBECONFIG
    namespace: payroll
    timeout: 2s
freeze:
  - scale: { target: cluster, deployment: payroll-api, replicas: 0 }
  - suspend_cronjobs: { target: cluster, selector: app=payroll }
restore:
  - name: Start legacy workers
    scale: { target: cluster, deployment: legacy-payroll-worker, replicas: 2 }
YAML
}

# --- survived ------------------------------------------------------------------------------------
runbook r500
reset_cluster
fault '{"count":2,"status":500,"method":"PATCH","path":"'$FREEZE_SCALE'"}'
fault '{"count":2,"status":500,"method":"PATCH","path":"'$RESTORE_SCALE'"}'
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "500s" --yes
assert_eq "500 500 200" "$(statuses PATCH $FREEZE_SCALE)" "500 at freeze: backed off and retried"
assert_eq "500 500 200" "$(statuses PATCH $RESTORE_SCALE)" "500 at restore: backed off and retried"
end_state "500s"

runbook r429
reset_cluster
fault '{"count":1,"status":429,"retry_after":1,"method":"PATCH","path":"'$CRON'"}'
fault '{"count":1,"status":429,"retry_after":1,"method":"PATCH","path":"'$RESTORE_SCALE'"}'
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "429s" --yes
assert_eq "429 200" "$(statuses PATCH $CRON)" "429 at freeze's CronJob suspension: retried after Retry-After"
assert_eq "429 200" "$(statuses PATCH $RESTORE_SCALE)" "429 at restore: retried after Retry-After"
end_state "429s"

runbook r409
reset_cluster
fault '{"count":2,"status":409,"method":"PATCH","path":"'$FREEZE_SCALE'"}'
fault '{"count":2,"status":409,"method":"PATCH","path":"'$RESTORE_SCALE'"}'
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "409s" --yes
assert_eq "409 409 200" "$(statuses PATCH $FREEZE_SCALE)" "409 at freeze: read again, applied again"
assert_eq "409 409 200" "$(statuses PATCH $RESTORE_SCALE)" "409 at restore: read again, applied again"
end_state "409s"

# A request that hangs past the 2 s deadline after the server applied it (its answer lost).
runbook rhang
reset_cluster
fault '{"count":1,"hang":6,"after":true,"method":"PATCH","path":"'$FREEZE_SCALE'"}'
fault '{"count":1,"hang":6,"after":true,"method":"PATCH","path":"'$RESTORE_SCALE'"}'
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "hangs" --yes
# The PATCH sent again carries the resourceVersion read before the first: 409, read again, done.
assert_eq "hang 409" "$(statuses PATCH $FREEZE_SCALE)" "freeze's PATCH hung (applied, answer lost); sent again: conflict, the read found it done"
assert_eq "hang 409" "$(statuses PATCH $RESTORE_SCALE)" "restore's PATCH the same"
end_state "hangs"

# --- stopping cleanly, then resume ----------------------------------------------------------------
runbook s500
reset_cluster
fault '{"count":5,"status":500,"method":"PATCH","path":"'$FREEZE_SCALE'","message":"etcdserver: request timed out"}'
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "500 forever" --yes
assert_contains "$RB_ERR" "unable to scale 'payroll-api' in namespace 'payroll': 500 internal error: etcdserver: request timed out (after 5 attempts)" \
  "a 500 that does not stop: the API's message and the attempts"
assert_eq "3 0" "$(replicas payroll-api) $(replicas legacy-payroll-worker)" "nothing scaled"
assert_eq "false" "$(suspended payroll-nightly)" "no step after the failed one"
assert_exit 0 "$RB_BIN" -f "$RB" resume
end_state "500 forever, then resume"

runbook s409
reset_cluster
fault '{"count":5,"status":409,"method":"PATCH","path":"'$RESTORE_SCALE'","message":"Operation cannot be fulfilled on deployments.apps \"legacy-payroll-worker\": the object has been modified; please apply your changes to the latest version and try again"}'
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "409 forever" --yes
assert_contains "$RB_ERR" "unable to scale 'legacy-payroll-worker' in namespace 'payroll': still conflicting after 5 attempts" \
  "a 409 at every attempt: says it was tried 5 times"
assert_contains "$RB_ERR" "another writer changed deployment 'legacy-payroll-worker' every time" "and what kept conflicting"
assert_contains "$RB_ERR" "409 conflict: Operation cannot be fulfilled" "with the API's message"
assert_contains "$RB_ERR" "HINT: find what keeps changing 'legacy-payroll-worker'" "and a hint"
assert_eq "409 409 409 409 409" "$(statuses PATCH $RESTORE_SCALE)" "five attempts, each a 409"
assert_eq "0 0" "$(replicas payroll-api) $(replicas legacy-payroll-worker)" "freeze done, the restore scale not"
assert_exit 0 "$RB_BIN" -f "$RB" resume
end_state "409 forever, then resume"

runbook shang
sed -i 's/timeout: 2s/timeout: 1s/' "$RB"
reset_cluster
fault '{"count":5,"hang":3,"method":"PATCH","path":"'$RESTORE_SCALE'"}'
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "hangs forever" --yes
assert_contains "$RB_ERR" "unable to reach 'cluster'" "a server that hangs every time: named"
assert_contains "$RB_ERR" "(after 5 attempts)" "after a bounded number of attempts"
assert_eq "0" "$(replicas legacy-payroll-worker)" "the hung PATCH was not applied"
assert_exit 0 "$RB_BIN" -f "$RB" resume
end_state "hangs forever, then resume"
