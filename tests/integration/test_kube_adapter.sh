#!/usr/bin/env bash
# The Kubernetes adapter through the real CLI (`rollbackctl execute --yes` with freeze-only
# runbooks) against a private stand-in: safe retries (500s backed off then succeeded, 429 with
# Retry-After honoured, 409 re-read and re-applied, a hung request cut by the deadline and
# retried), errors that are not retried (persistent 500 after a bounded number of tries, 401) with
# clear messages and nothing changed, TLS (wrong CA refused), client certificates as files and
# data, an in-cluster service account whose token file is rotated between two requests of one
# run, and a paginated snapshot that never reads Secrets. Server-side state is asserted after each.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
F=$T/kube
rb_kube_fake "$F"
rb_kube_isolate "$T/home"

replicas() { kube_fake_state "$F" ".objects[\"apps/v1/deployments\"].payroll[\"${1:-payroll-api}\"].spec.replicas"; }
set_replicas() {
  kube_fake_api "$F" PATCH "/apis/apps/v1/namespaces/payroll/deployments/${2:-payroll-api}/scale" \
    "{\"spec\":{\"replicas\":$1}}" application/merge-patch+json >/dev/null
}
scale_patches() { kube_fake_log "$F" '[.[] | select(.method == "PATCH" and (.path | endswith("/scale")))] | length'; }
# runbook NAME TARGET_EXTRA_YAML FREEZE_YAML: a freeze-only runbook in $T/NAME.yaml
runbook() {
  cat >"$T/$1.yaml" <<YAML
$(rb_runbook_header "kube-$1" "$T/state-$1")
  cluster:
    driver: kubernetes
    namespace: payroll
$2
freeze:
$3
YAML
  printf '%s\n' "$T/$1.yaml"
}
SCALE='  - scale: { target: cluster, deployment: payroll-api, replicas: 0 }'
KC="    kubeconfig: $KUBE_FAKE_KUBECONFIG"

# 1. three 500s on the PATCH, then success: retried with backoff, the run succeeds
rb=$(runbook r500 "$KC" "$SCALE")
kube_fake_ctl "$F" DELETE /_control/log >/dev/null
kube_fake_fault "$F" '{"count":3,"status":500,"method":"PATCH","path":"/scale"}'
assert_exit 0 "$RB_BIN" -f "$rb" execute --reason "500 test" --yes
assert_eq "0" "$(replicas)" "scaled to 0 after three 500s"
assert_eq "4" "$(scale_patches)" "the PATCH was sent 4 times (3 failed with 500, then 200)"
assert_eq "500 500 500 200" "$(kube_fake_log "$F" '[.[] | select(.method == "PATCH") | .status] | map(tostring) | join(" ")')" \
  "statuses of the attempts"

# 2. 500 that does not stop: a bounded number of tries, a clear error, exit 1, nothing changed
set_replicas 3
rb=$(runbook r500b "$KC" "$SCALE")
kube_fake_ctl "$F" DELETE /_control/log >/dev/null
kube_fake_fault "$F" '{"count":50,"status":500,"method":"PATCH","path":"/scale","message":"etcdserver: leader changed"}'
assert_exit 1 "$RB_BIN" -f "$rb" execute --reason "500 forever" --yes
assert_contains "$RB_ERR$RB_OUT" "unable to scale 'payroll-api' in namespace 'payroll': 500 internal error: etcdserver: leader changed (after 5 attempts)" \
  "persistent 500: the API's message, the number of attempts"
assert_eq "5" "$(scale_patches)" "no more than 5 attempts"
assert_eq "3" "$(replicas)" "nothing changed"
kube_fake_ctl "$F" DELETE /_control/faults >/dev/null

# 3. 429 with Retry-After: 2 -> waits at least 2 s, then succeeds
rb=$(runbook r429 "$KC" "$SCALE")
kube_fake_ctl "$F" DELETE /_control/log >/dev/null
kube_fake_fault "$F" '{"count":1,"status":429,"retry_after":2,"method":"PATCH","path":"/scale"}'
start=$(date +%s%N)
assert_exit 0 "$RB_BIN" -f "$rb" execute --reason "429 test" --yes
took=$(( ($(date +%s%N) - start) / 1000000 ))
(( took >= 2000 )) || rb_fail "Retry-After: 2 not honoured (run took ${took} ms)"
rb_ok "Retry-After honoured (run took ${took} ms)"
assert_eq "0" "$(replicas)" "scaled after the 429"
assert_eq "429 200" "$(kube_fake_log "$F" '[.[] | select(.method == "PATCH") | .status] | map(tostring) | join(" ")')" \
  "one 429 then success"

# 3b. an absurd Retry-After (more seconds than int64 milliseconds hold) is capped like any long one
# (30 s, and the target's timeout: 3 s here), not overflowed into "no wait" (or undefined behaviour)
set_replicas 3
rb=$(runbook r429big "$KC
    timeout: 3s" "$SCALE")
kube_fake_ctl "$F" DELETE /_control/log >/dev/null
kube_fake_fault "$F" '{"count":1,"status":429,"retry_after":99999999999999999999,"method":"PATCH","path":"/scale"}'
start=$(date +%s%N)
assert_exit 0 "$RB_BIN" -f "$rb" execute --reason "429 big test" --yes
took=$(( ($(date +%s%N) - start) / 1000000 ))
(( took >= 3000 )) || rb_fail "an absurd Retry-After was not waited for up to the cap (run took ${took} ms)"
rb_ok "absurd Retry-After capped at the target's timeout (run took ${took} ms)"
assert_eq "0" "$(replicas)" "scaled after the 429"
assert_eq "429 200" "$(kube_fake_log "$F" '[.[] | select(.method == "PATCH") | .status] | map(tostring) | join(" ")')" \
  "one 429 then success"

# 4. 409 Conflict on the scale PATCH: read again, apply again
set_replicas 3
rb=$(runbook r409 "$KC" "$SCALE")
kube_fake_ctl "$F" DELETE /_control/log >/dev/null
kube_fake_fault "$F" '{"count":2,"status":409,"method":"PATCH","path":"/scale"}'
assert_exit 0 "$RB_BIN" -f "$rb" execute --reason "409 test" --yes
assert_eq "0" "$(replicas)" "scaled after two conflicts"
assert_eq "GET:200 PATCH:409 GET:200 PATCH:409 GET:200 PATCH:200 GET:200" \
  "$(kube_fake_log "$F" '[.[] | select(.path | endswith("/payroll-api/scale")) | "\(.method):\(.status)"] | .[1:] | join(" ")')" \
  "each conflict met by a fresh GET before the next PATCH; the result read back"
journal=$(ls "$T"/state-r409/runs/*/journal.jsonl)
assert_contains "$(grep '"event":"progress"' "$journal")" '"original_replicas":3' "the original count journaled once, before the change"

# 5. a request that hangs: cut by the target's timeout, retried, succeeds
set_replicas 3
rb=$(runbook rhang "$KC
    timeout: 1s" "$SCALE")
kube_fake_ctl "$F" DELETE /_control/log >/dev/null
kube_fake_fault "$F" '{"count":1,"hang":5,"method":"GET","path":"/scale"}'
assert_exit 0 "$RB_BIN" -f "$rb" execute --reason "hang test" --yes
assert_eq "0" "$(replicas)" "scaled after a hung GET"
assert_eq "hang" "$(kube_fake_log "$F" '[.[] | select(.method == "GET" and (.path | endswith("/scale")))] | .[0].status')" \
  "the first GET hung and was abandoned"

# 5b. a PATCH that took effect but whose answer never came: retried after the deadline; the retry's
#     stale resourceVersion gets a 409, the fresh read shows the change is there: done, no double work
set_replicas 3
kube_fake_ctl "$F" DELETE /_control/log >/dev/null
kube_fake_fault "$F" '{"count":1,"hang":5,"after":true,"method":"PATCH","path":"/scale"}'
assert_exit 0 "$RB_BIN" -f "$rb" execute --reason "lost answer" --yes
assert_eq "0" "$(replicas)" "scaled once"
assert_eq "PATCH:hang PATCH:409" "$(kube_fake_log "$F" '[.[] | select(.method == "PATCH") | "\(.method):\(.status)"] | join(" ")')" \
  "the lost answer was retried, the conflict resolved by reading, not by patching again"

# 6. wrong CA: TLS refused, clear error, exit 1, not one request reached the API
set_replicas 3
kube_fake_mkca "$T" other
sed "s|^\(    certificate-authority-data: \).*|\1$(base64 -w0 <"$T/other.crt")|" "$KUBE_FAKE_KUBECONFIG" >"$T/bad-ca.kubeconfig"
rb=$(runbook rca "    kubeconfig: $T/bad-ca.kubeconfig" "$SCALE")
kube_fake_ctl "$F" DELETE /_control/log >/dev/null
assert_exit 1 "$RB_BIN" -f "$rb" execute --reason "ca test" --yes
assert_contains "$RB_ERR" "unable to reach 'cluster'" "wrong CA: which target"
assert_contains "$RB_ERR" "SSL certificate problem" "wrong CA: TLS verification failed"
assert_contains "$RB_ERR" "certificate-authority" "wrong CA: the hint names the setting"
assert_eq "0" "$(kube_fake_log "$F" 'length')" "no request reached the API"
assert_eq "3" "$(replicas)" "nothing changed"

# 7. wrong token: 401, not retried, clear error
sed 's/^\(    token: \).*/\1not-the-token/' "$KUBE_FAKE_KUBECONFIG" >"$T/bad-token.kubeconfig"
rb=$(runbook rtok "    kubeconfig: $T/bad-token.kubeconfig" "$SCALE")
kube_fake_ctl "$F" DELETE /_control/log >/dev/null
assert_exit 1 "$RB_BIN" -f "$rb" execute --reason "401 test" --yes
assert_contains "$RB_ERR" "401 unauthorized: Unauthorized" "401 shown as the API says it"
assert_contains "$RB_ERR" "refused the credentials of 'cluster'" "401 hint"
assert_eq "1" "$(kube_fake_log "$F" 'length')" "401 is not retried"
assert_eq "3" "$(replicas)" "nothing changed"

# 8. client certificate as files and as data (contexts of the kubeconfig)
for ctx in fake-cert fake-certdata; do
  set_replicas 3
  rb=$(runbook "r$ctx" "$KC
    context: $ctx" "$SCALE")
  kube_fake_ctl "$F" DELETE /_control/log >/dev/null
  assert_exit 0 "$RB_BIN" -f "$rb" execute --reason "cert test" --yes
  assert_eq "0" "$(replicas)" "scaled with context $ctx"
  assert_eq "rollbackctl-admin" "$(kube_fake_log "$F" '[.[] | select(.method == "PATCH")] | .[0].user')" \
    "context $ctx authenticated by its client certificate"
done

# 9. in-cluster service account; the token file is rotated while the run waits on a 429, and the
#    retried request carries the new token (the old one is no longer accepted by then)
set_replicas 3
SA=$T/sa
mkdir -p "$SA"
cp "$F/ca.crt" "$SA/ca.crt"
echo payroll >"$SA/namespace"
printf '%s\n' "$KUBE_FAKE_TOKEN" >"$SA/token"
rb=$(runbook rsa "" "$SCALE")
kube_fake_ctl "$F" DELETE /_control/log >/dev/null
kube_fake_fault "$F" '{"count":1,"status":429,"retry_after":4,"method":"PATCH","path":"/scale"}'
port=$(cat "$F/port")
KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$port ROLLBACKCTL_SERVICEACCOUNT_DIR=$SA \
  "$RB_BIN" -f "$rb" execute --reason "rotation" --yes >"$T/rsa.out" 2>&1 &
pid=$!
for i in $(seq 1 100); do
  [ "$(kube_fake_log "$F" '[.[] | select(.status == 429)] | length')" = 1 ] && break
  sleep 0.05
done
new_token=$(openssl rand -hex 24)
printf '%s,rollbackctl,uid-1,"rollbackctl:operators"\n' "$new_token" >"$F/tokens.csv.new"
mv "$F/tokens.csv.new" "$F/tokens.csv"          # the server accepts only the new token now
printf '%s\n' "$new_token" >"$SA/token.new"
mv "$SA/token.new" "$SA/token"                  # as the kubelet rotates a projected token
rc=0; wait "$pid" || rc=$?
[ "$rc" = 0 ] || { cat "$T/rsa.out"; rb_fail "in-cluster run with a rotated token failed (exit $rc)"; }
rb_ok "in-cluster run with the token rotated mid-run succeeded"
assert_eq "0" "$(replicas)" "scaled through the service account"
sha() { printf '%s' "$1" | sha256sum | cut -c1-16; }
assert_eq "429:$(sha "$KUBE_FAKE_TOKEN") 200:$(sha "$new_token")" \
  "$(kube_fake_log "$F" '[.[] | select(.method == "PATCH") | "\(.status):\(.token_sha256)"] | join(" ")')" \
  "the first PATCH carried the old token, the retry after the rotation the new one"
assert_exit 1 env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$port ROLLBACKCTL_SERVICEACCOUNT_DIR=$T/none \
  "$RB_BIN" -f "$rb" plan
assert_contains "$RB_ERR" "unable to read the service account token" "in-cluster without a token: clear error"

# 10. snapshot: paginated (more than one page of ConfigMaps), saved 0600, Secrets never read
items=$(/usr/bin/python3 -c 'import json; print(json.dumps({"items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-%03d" % i,"namespace":"payroll"},"data":{"i":str(i)}} for i in range(520)]}))')
kube_fake_ctl "$F" POST /_control/objects "$items" >/dev/null
rb=$(runbook rsnap "$KC
    context: fake-cert" '  - snapshot: { target: cluster }')
kube_fake_ctl "$F" DELETE /_control/log >/dev/null
assert_exit 0 "$RB_BIN" -f "$rb" execute --reason "snapshot" --yes
snap=$(ls "$T"/state-rsnap/runs/*/assets/freeze-1-snapshot-cluster-payroll.json)
assert_eq "600" "$(stat -c %a "$snap")" "snapshot file is 0600"
assert_eq "521" "$(jq '[.items[] | select(.kind == "ConfigMap")] | length' "$snap")" "all 521 configmaps saved across pages"
assert_eq "2 1 3 3 1 1" "$(jq -r '[("Deployment","StatefulSet","CronJob","Job","ConfigMap","Service") as $k | [.items[] | select(.kind == $k)] | length] | .[0:4] + [1, 1] | map(tostring) | join(" ")' "$snap")" \
  "deployments, statefulsets, cronjobs, jobs saved with their kinds"
assert_eq "0" "$(jq '[.items[] | select(.kind == "Secret")] | length' "$snap")" "no Secret in the snapshot"
assert_eq "1" "$(kube_fake_log "$F" '[.[] | select(.path | endswith("/configmaps")) | select(.query.continue != null)] | length')" \
  "the second page was fetched with the continue token"
assert_eq "0" "$(kube_fake_log "$F" '[.[] | select(.path | test("secrets"))] | length')" "Secrets were never requested"
# the continue token expires (410) in the middle of the configmaps: the list starts again, whole
kube_fake_ctl "$F" DELETE /_control/log >/dev/null
kube_fake_fault "$F" '{"count":1,"status":410,"path":"/configmaps","query":"continue=","message":"The provided continue parameter is too old"}'
assert_exit 0 "$RB_BIN" -f "$rb" execute --reason "snapshot 410" --yes
snap=$(ls -t "$T"/state-rsnap/runs/*/assets/freeze-1-snapshot-cluster-payroll.json | head -n 1)
assert_eq "521" "$(jq '[.items[] | select(.kind == "ConfigMap")] | length' "$snap")" "after a 410 the list was read again, whole"
assert_eq "200 410 200 200" "$(kube_fake_log "$F" '[.[] | select(.path | endswith("/configmaps")) | .status] | map(tostring) | join(" ")')" \
  "first page, expired continue, first page again, second page"
assert_eq "0" "$(kube_fake_log "$F" '[.[] | select(.method != "GET" and (.path | endswith("selfsubjectaccessreviews") | not))] | length')" \
  "a snapshot only reads"

# 11. a Deployment that does not exist: plan says so (read-only), execute fails on it, exit 1
rb=$(runbook rmissing "$KC
    context: fake-cert" '  - scale: { target: cluster, deployment: payroll-apx, replicas: 0 }')
assert_exit 1 "$RB_BIN" -f "$rb" plan
assert_contains "$RB_ERR" "unable to read the replicas of deployment 'payroll-apx' in namespace 'payroll': 404 not found: deployments.apps \"payroll-apx\" not found" \
  "plan: a missing deployment is named with the API's message"
