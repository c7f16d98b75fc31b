#!/usr/bin/env bash
# The Kubernetes stand-in stays honest: an unmodified, real kubectl discovers, gets, scales, patches
# and deletes against it, with token, client-certificate files and client-certificate data, and
# the server-side state is what a real API server would hold afterwards. Wrong credentials and a
# wrong CA are refused the way a real server refuses them.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/fakes/kube_fake.sh"

command -v kubectl >/dev/null 2>&1 || rb_skip "kubectl is not installed (Debian: kubernetes-client)"

T=$(rb_tmpdir)
rb_kube_fake "$T/kube"
F=$T/kube
export HOME=$T/home KUBECONFIG=$KUBE_FAKE_KUBECONFIG
mkdir -p "$HOME"
k() { kubectl --request-timeout=10s "$@"; }
replicas() { kube_fake_state "$F" '.objects["apps/v1/deployments"].payroll["payroll-api"].spec.replicas'; }
pods_of() { kube_fake_state "$F" "[.objects[\"v1/pods\"].payroll // {} | .[] | select(.metadata.ownerReferences[0].name == \"$1\")] | length"; }

# get, through discovery, with the token user
assert_eq "3" "$(k get deployment payroll-api -o jsonpath='{.spec.replicas}')" "kubectl get deployment (token)"
assert_eq "payroll-api" "$(k get deploy -l tier=api -o jsonpath='{.items[*].metadata.name}')" "label selector"
assert_contains "$(k get cronjobs)" "payroll-tax-export" "kubectl get cronjobs lists them"
assert_eq "3" "$(pods_of payroll-api)" "the fake's controller runs 3 pods"

# scale: kubectl PATCHes the scale subresource with a merge patch; the server holds the change
k scale deployment payroll-api --replicas=5 >/dev/null
assert_eq "5" "$(replicas)" "server-side replicas after kubectl scale"
assert_eq "5" "$(pods_of payroll-api)" "5 pods after scaling up"
assert_eq "PATCH application/merge-patch+json {\"spec\":{\"replicas\":5}}" \
  "$(kube_fake_log "$F" '[.[] | select(.path | endswith("/deployments/payroll-api/scale"))] | last | "\(.method) \(.content_type) \(.body | tojson)"')" \
  "kubectl scale sent a merge patch to /scale"

# a merge patch carrying a stale resourceVersion is refused with a 409 Conflict Status
out=$(kube_fake_api "$F" PATCH /apis/apps/v1/namespaces/payroll/deployments/payroll-api/scale \
  '{"metadata":{"resourceVersion":"1"},"spec":{"replicas":1}}' application/merge-patch+json)
assert_eq "409 Conflict" "$(jq -r '"\(.code) \(.reason)"' <<<"$out")" "stale resourceVersion: 409 Conflict Status"
assert_contains "$(jq -r .message <<<"$out")" "the object has been modified" "Conflict message"
assert_eq "5" "$(replicas)" "nothing changed by the refused patch"

# client certificate as files, then as data
assert_eq "5" "$(k --context fake-cert get deployment payroll-api -o jsonpath='{.status.replicas}')" \
  "kubectl get with client certificate files"
k --context fake-certdata scale deployment payroll-api --replicas=0 >/dev/null
assert_eq "0" "$(replicas)" "kubectl scale with client certificate data"
assert_eq "0" "$(pods_of payroll-api)" "no pods at 0 replicas"
assert_eq "rollbackctl-admin" "$(kube_fake_log "$F" 'last | .user')" "the certificate's CN is the user"

# strategic merge patch (kubectl's default) and JSON patch on a CronJob
k patch cronjob payroll-nightly -p '{"spec":{"suspend":true}}' >/dev/null
assert_eq "true" "$(kube_fake_state "$F" '.objects["batch/v1/cronjobs"].payroll["payroll-nightly"].spec.suspend')" \
  "kubectl patch (strategic merge) suspended the cronjob"
assert_eq "application/strategic-merge-patch+json" "$(kube_fake_log "$F" 'last | .content_type')" "kubectl's default patch type"
k patch cronjob payroll-nightly --type=json -p '[{"op":"replace","path":"/spec/suspend","value":false}]' >/dev/null
assert_eq "false" "$(kube_fake_state "$F" '.objects["batch/v1/cronjobs"].payroll["payroll-nightly"].spec.suspend')" \
  "kubectl patch --type=json"

# delete a Job: kubectl's default cascade is background, so its pod goes too
assert_eq "1" "$(pods_of payroll-recalc-manual)" "the job has a pod"
k delete job payroll-recalc-manual >/dev/null
assert_eq "null" "$(kube_fake_state "$F" '.objects["batch/v1/jobs"].payroll["payroll-recalc-manual"]')" "job deleted"
assert_eq "0" "$(pods_of payroll-recalc-manual)" "its pod deleted with it (background propagation)"
# ... while --cascade=orphan keeps the pod
k delete job hr-sync-28871200 --cascade=orphan >/dev/null
assert_eq "1" "$(kube_fake_state "$F" '[.objects["v1/pods"].payroll[] | select(.metadata.name | startswith("hr-sync-28871200"))] | length')" \
  "orphan propagation keeps the pod"

# a missing object is a NotFound Status, shown by kubectl as such
assert_exit 1 kubectl get deployment nope
assert_contains "$RB_ERR" 'deployments.apps "nope" not found' "NotFound Status message"

# RBAC: a user without patch rights on deployments/scale gets a Forbidden Status
kube_fake_ctl "$F" POST /_control/rbac '{"users":{"rollbackctl":[{"verbs":["get","list"],"apiGroups":["*"],"resources":["*"]}]}}' >/dev/null
assert_exit 1 kubectl scale deployment payroll-api --replicas=2
assert_contains "$RB_ERR" 'User "rollbackctl" cannot patch resource "deployments/scale" in API group "apps" in the namespace "payroll"' \
  "Forbidden Status message"
assert_eq "no" "$(kubectl auth can-i patch deployments --subresource=scale 2>/dev/null || true)" \
  "kubectl auth can-i answered by SelfSubjectAccessReview"
assert_eq "yes" "$(kubectl auth can-i list cronjobs)" "kubectl auth can-i: allowed"
assert_eq "0" "$(replicas)" "nothing changed by the forbidden scale"

# wrong token: 401; a CA that did not sign the server certificate: TLS refused
sed 's/^\(    token: \).*/\1wrong-token/' "$KUBECONFIG" >"$T/bad-token.kubeconfig"
assert_exit 1 kubectl --kubeconfig "$T/bad-token.kubeconfig" get deployment payroll-api
assert_contains "$RB_ERR" "Unauthorized" "wrong token refused"
kube_fake_mkca "$T" other
ca=$(base64 -w0 <"$T/other.crt")
sed "s|^\(    certificate-authority-data: \).*|\1$ca|" "$KUBECONFIG" >"$T/bad-ca.kubeconfig"
assert_exit 1 kubectl --kubeconfig "$T/bad-ca.kubeconfig" get deployment payroll-api
assert_contains "$RB_ERR" "certificate signed by unknown authority" "wrong CA refused by kubectl"
