#!/usr/bin/env bash
# Restore `scale` steps through the kubernetes adapter, against a private Kubernetes API stand-in
# (tests/fakes): plan shows the current replica count -> the new one and sends no write; execute
# scales legacy-payroll-worker 0 -> 2 (server-side state checked); the count found before is
# journaled; a rerun sends no PATCH; a deployment that does not exist fails the step with the API's
# message, the runbook line and exit 1.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
F=$T/kube
rb_kube_fake "$F"
rb_kube_isolate "$T/home"

replicas() { kube_fake_state "$F" ".objects[\"apps/v1/deployments\"].payroll[\"$1\"].spec.replicas"; }
writes() { kube_fake_log "$F" '[.[] | select(.method != "GET" and (.path | startswith("/_control") | not) and (.path | contains("selfsubjectaccessreviews") | not))] | length'; }

runbook() { # FILE DEPLOYMENT
  cat >"$1" <<YAML
version: 1
name: restore-scale
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state-$(basename "$1" .yaml)
targets:
  cluster:
    driver: kubernetes
    kubeconfig: $KUBE_FAKE_KUBECONFIG
    namespace: payroll
restore:
  - name: Start legacy workers
    scale: { target: cluster, deployment: $2, replicas: 2 }
YAML
}

runbook "$T/good.yaml" legacy-payroll-worker
assert_eq "0" "$(replicas legacy-payroll-worker)" "legacy workers start at 0"
kube_fake_ctl "$F" DELETE /_control/log >/dev/null
assert_exit 0 "$RB_BIN" -f "$T/good.yaml" plan
assert_contains "$RB_OUT" "scale deployment 'legacy-payroll-worker' in namespace 'payroll' via 'cluster': 0 -> 2 replicas"
assert_eq "0" "$(writes)" "plan sent no write"
assert_eq "0" "$(replicas legacy-payroll-worker)" "plan changed nothing"

assert_exit 0 "$RB_BIN" -f "$T/good.yaml" execute --reason "scale test" --yes
assert_contains "$RB_OUT" "'legacy-payroll-worker' scaled 0 -> 2"
assert_eq "2" "$(replicas legacy-payroll-worker)" "legacy workers scaled to 2 on the server"
assert_eq "3" "$(replicas payroll-api)" "other deployments untouched"
assert_contains "$(cat "$T"/state-good/runs/*/journal.jsonl)" '"before":0' "the count found before is journaled"

kube_fake_ctl "$F" DELETE /_control/log >/dev/null
assert_exit 0 "$RB_BIN" -f "$T/good.yaml" execute --reason "scale test again" --yes
assert_contains "$RB_OUT" "'legacy-payroll-worker' already at 2 replicas"
assert_eq "0" "$(writes)" "a rerun sent no PATCH"

runbook "$T/missing.yaml" no-such-worker
assert_exit 1 "$RB_BIN" -f "$T/missing.yaml" execute --reason "scale test" --yes
assert_contains "$RB_ERR" "missing.yaml:11: restore/start-legacy-workers: restore step 'Start legacy workers' failed"
assert_contains "$RB_ERR" "404"
assert_contains "$RB_ERR" "no-such-worker"
