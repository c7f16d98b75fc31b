#!/usr/bin/env bash
# tls-server-name, proxy-url and insecure-skip-tls-verify's YAML booleans, each compared with what
# the real kubectl does with the same kubeconfig. The stand-in's certificate names only
# api.payroll.internal while it listens on 127.0.0.1: without tls-server-name both refuse the
# certificate; with it both connect, send that name as SNI and the address as Host (the
# stand-in logs both); a wrong name is refused by both. Through proxy-url (a logging CONNECT proxy)
# both tunnel to the server's address. `True` skips verification for both, a quoted "true" and
# `1` are refused by both.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/fakes/kube_fake.sh"

command -v kubectl >/dev/null 2>&1 || rb_fail "kubectl is not installed (scripts/install-deps: kubernetes-client)"

T=$(rb_tmpdir)
F=$T/kube
KUBE_FAKE_SERVER_SAN=DNS:api.payroll.internal rb_kube_fake "$F"
rb_kube_isolate "$T/home"
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy NO_PROXY no_proxy ALL_PROXY all_proxy
PORT=${KUBE_FAKE_URL##*:}
CA=$(base64 -w0 <"$KUBE_FAKE_CA")

# the CONNECT proxy
/usr/bin/python3 "$RB_SOURCE_DIR/tests/fakes/connect_proxy.py" --port-file "$T/proxy.port" \
  --log "$T/proxy.log" </dev/null >"$T/proxy.out" 2>&1 &
PROXY_PID=$!
rb_on_exit kill "$PROXY_PID"
for _ in $(seq 1 100); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
[ -s "$T/proxy.port" ] || rb_fail "the proxy did not start: $(cat "$T/proxy.out")"
PROXY=http://127.0.0.1:$(cat "$T/proxy.port")
touch "$T/proxy.log"

# kubeconfig NAME CLUSTER_EXTRA_YAML [CA_LINE]
kubeconfig() {
  cat >"$T/$1.kubeconfig" <<YAML
apiVersion: v1
kind: Config
current-context: c
clusters:
- name: c
  cluster:
    server: $KUBE_FAKE_URL
${3-    certificate-authority-data: $CA}
$2
users:
- name: u
  user: {token: $KUBE_FAKE_TOKEN}
contexts:
- name: c
  context: {cluster: c, user: u, namespace: payroll}
YAML
  printf '%s\n' "$T/$1.kubeconfig"
}
runbook() {
  cat >"$T/$1.yaml" <<YAML
$(rb_runbook_header "kube-tls-$1" "$T/state-$1")
  cluster: { driver: kubernetes, kubeconfig: $2, namespace: payroll, timeout: 10s }
freeze:
  - scale: { target: cluster, deployment: payroll-api, replicas: 0 }
YAML
  printf '%s\n' "$T/$1.yaml"
}
replicas() { kube_fake_state "$F" '.objects["apps/v1/deployments"].payroll["payroll-api"].spec.replicas'; }
set_replicas() {
  kube_fake_api "$F" PATCH /apis/apps/v1/namespaces/payroll/deployments/payroll-api/scale \
    "{\"spec\":{\"replicas\":$1}}" application/merge-patch+json >/dev/null
}
# the control endpoint, by the certificate's name (kube_fake_ctl uses 127.0.0.1, which it lacks)
kube_fake_ctl_named() {
  curl -sS --fail-with-body --max-time 10 --cacert "$F/ca.crt" \
    --connect-to "api.payroll.internal:$PORT:127.0.0.1:$PORT" -X "$1" "https://api.payroll.internal:$PORT$2"
}
log_of() { kube_fake_ctl_named GET /_control/log | jq -r ".items | $1"; }
kube_fake_state() { kube_fake_ctl_named GET /_control/state | jq -r "$2"; }
kube_fake_api() {
  local body=${4:-} ctype=${5:-application/json}
  curl -sS --max-time 10 --cacert "$F/ca.crt" --connect-to "api.payroll.internal:$PORT:127.0.0.1:$PORT" \
    -X "$2" -H "Authorization: Bearer $KUBE_FAKE_TOKEN" -H "Content-Type: $ctype" --data-binary "$body" \
    "https://api.payroll.internal:$PORT$3"
}
k() { kubectl --request-timeout=10s --kubeconfig "$@"; }

assert_eq "3" "$(replicas)" "the stand-in answers by its certificate's name"

# 1. no tls-server-name: the certificate does not name 127.0.0.1; both refuse it
kc=$(kubeconfig plain "")
assert_exit 1 k "$kc" get deploy -n payroll
assert_contains "$RB_ERR" "x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs" "kubectl refuses the name"
assert_exit 1 "$RB_BIN" -f "$(runbook plain "$kc")" execute --reason tls --yes
assert_contains "$RB_ERR" "SSL: no alternative certificate subject name matches target host name '127.0.0.1'" "rollbackctl refuses the name"
assert_eq "3" "$(replicas)" "nothing changed"

# 2. tls-server-name: both connect; SNI is the name, Host the address
kc=$(kubeconfig named "    tls-server-name: api.payroll.internal")
kube_fake_ctl_named DELETE /_control/log >/dev/null
out=$(k "$kc" get deploy -n payroll -o name)
assert_contains "$out" "deployment.apps/payroll-api" "kubectl connects with tls-server-name"
kubectl_seen=$(log_of '[.[] | "\(.sni) \(.host)"] | unique | join(",")')
assert_eq "api.payroll.internal 127.0.0.1:$PORT" "$kubectl_seen" "kubectl: SNI the name, Host the address"
kube_fake_ctl_named DELETE /_control/log >/dev/null
assert_exit 0 "$RB_BIN" -f "$(runbook named "$kc")" execute --reason tls --yes
assert_eq "0" "$(replicas)" "rollbackctl scaled through tls-server-name"
assert_eq "$kubectl_seen" "$(log_of '[.[] | "\(.sni) \(.host)"] | unique | join(",")')" "rollbackctl: the same SNI and Host as kubectl"

# 3. a tls-server-name the certificate does not hold: refused by both
set_replicas 3
kc=$(kubeconfig wrong "    tls-server-name: other.payroll.internal")
assert_exit 1 k "$kc" get deploy -n payroll
assert_contains "$RB_ERR" "certificate is valid for api.payroll.internal, not other.payroll.internal" "kubectl refuses a wrong name"
assert_exit 1 "$RB_BIN" -f "$(runbook wrong "$kc")" execute --reason tls --yes
assert_contains "$RB_ERR" "target host name 'other.payroll.internal'" "rollbackctl refuses a wrong name"
assert_eq "3" "$(replicas)" "nothing changed"

# 4. proxy-url: both tunnel through the proxy to the server's address
kc=$(kubeconfig proxied "    tls-server-name: api.payroll.internal
    proxy-url: $PROXY")
: >"$T/proxy.log"
k "$kc" get deploy -n payroll -o name >/dev/null
assert_eq "CONNECT 127.0.0.1:$PORT" "$(cut -d' ' -f1,2 "$T/proxy.log" | sort -u)" "kubectl went through the proxy"
: >"$T/proxy.log"
assert_exit 0 "$RB_BIN" -f "$(runbook proxied "$kc")" execute --reason proxy --yes
assert_eq "0" "$(replicas)" "rollbackctl scaled through the proxy"
assert_eq "CONNECT 127.0.0.1:$PORT" "$(cut -d' ' -f1,2 "$T/proxy.log" | sort -u)" "rollbackctl went through the proxy to the same address"
assert_contains "$(cat "$T/proxy.log")" "rollbackctl/" "the tunnel was rollbackctl's"

# 5. insecure-skip-tls-verify as kubectl reads it: True skips verification, "true" and 1 are refused
set_replicas 3
kc=$(kubeconfig insecure "    insecure-skip-tls-verify: True" "")
assert_contains "$(k "$kc" get deploy -n payroll -o name)" "payroll-api" "kubectl: True skips verification"
assert_exit 0 "$RB_BIN" -f "$(runbook insecure "$kc")" execute --reason insecure --yes
assert_eq "0" "$(replicas)" "rollbackctl: True skips verification too"
for v in '"true"' 1; do
  kc=$(kubeconfig bad "    insecure-skip-tls-verify: $v" "")
  assert_exit 1 k "$kc" get deploy -n payroll
  assert_contains "$RB_ERR" "cannot unmarshal" "kubectl refuses insecure-skip-tls-verify: $v"
  assert_exit 1 "$RB_BIN" -f "$(runbook bad "$kc")" execute --reason insecure --yes
  assert_contains "$RB_ERR" "insecure-skip-tls-verify is" "rollbackctl refuses insecure-skip-tls-verify: $v"
  assert_contains "$RB_ERR" "not a boolean" "... saying it is not a boolean"
done
