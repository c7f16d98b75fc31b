#!/usr/bin/env bash
# Exec credential plugins (users[].user.exec) against a private stand-in, through the real CLI
# (`execute --yes` with a freeze-only runbook): a script plugin prints an ExecCredential, and the
# stand-in's request log says which token each request carried (token_sha256). Checked: the
# plugin's token is what the API received; one plugin run serves pre-flight and the phases while
# the credential is unexpired, an expired one runs the plugin for each request; a revoked token
# (401) makes the plugin run again and the request go once more, exactly once; a token refused
# again is an error without a loop; a missing or failing plugin is named with its installHint or
# stderr and nothing changes; token_env wins over the kubeconfig's user (an exec plugin is not
# run, an auth-provider user is usable); and the real kubectl accepts the same kubeconfig with the
# same relative plugin path. The token never reaches the output or the journal.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

command -v jq >/dev/null 2>&1 || rb_fail "jq not found (scripts/install-deps)"

T=$(rb_tmpdir)
F=$T/kube
rb_kube_fake "$F"
rb_kube_isolate "$T/home"

TOK_A=$(openssl rand -hex 20)
TOK_B=$(openssl rand -hex 20)
sha() { printf '%s' "$1" | sha256sum | cut -c1-16; }
# the stand-in knows both tokens as user sso-user (kube-apiserver's token file, re-read per request)
printf '%s,sso-user,uid-7,"sso:operators"\n%s,sso-user,uid-7,"sso:operators"\n' "$TOK_A" "$TOK_B" \
  >>"$KUBE_FAKE_TOKEN_FILE"
revoke() { grep -v "^$1," "$KUBE_FAKE_TOKEN_FILE" >"$T/tokens.tmp"; cat "$T/tokens.tmp" >"$KUBE_FAKE_TOKEN_FILE"; }

# The plugin: counts its runs, keeps the KUBERNETES_EXEC_INFO it got, prints next-token (then
# then-token from its second run on) with the expiry in `expiry` when that file exists.
P=$T/kc/plug
mkdir -p "$P"
cat >"$P/sso-plugin" <<'SH'
#!/bin/bash
d=$(dirname "$0")
printf x >>"$d/runs"
printf '%s' "$KUBERNETES_EXEC_INFO" >"$d/info"
printf '%s|%s\n' "${SSO_REGION:-}" "${LEGACY_PGPASSWORD:-unset}" >"$d/env"
tok=$(cat "$d/next-token")
[ -f "$d/then-token" ] && mv "$d/then-token" "$d/next-token"
exp=""
[ -f "$d/expiry" ] && exp=",\"expirationTimestamp\":\"$(cat "$d/expiry")\""
api=$(printf '%s' "$KUBERNETES_EXEC_INFO" | jq -r .apiVersion)
printf '{"kind":"ExecCredential","apiVersion":"%s","status":{"token":"%s"%s}}\n' "$api" "$tok" "$exp"
SH
chmod 755 "$P/sso-plugin"
runs() { [ -f "$P/runs" ] && wc -c <"$P/runs" | tr -d ' ' || echo 0; }
reset_plugin() { rm -f "$P/runs" "$P/then-token" "$P/expiry" "$P/info"; printf '%s' "$1" >"$P/next-token"; }

CA=$(base64 -w0 <"$KUBE_FAKE_CA")
# kubeconfig KIND [EXEC_EXTRA]: KIND exec (the plugin, by a path relative to the file), missing,
# failing, authprovider
kubeconfig() {
  local user
  case $1 in
  exec) user="    exec:
      apiVersion: client.authentication.k8s.io/${3:-v1}
      command: plug/sso-plugin
      args: [get-token, --cluster, payroll]
      env: [{name: SSO_REGION, value: eu-west-1}]
      interactiveMode: Never
      provideClusterInfo: true" ;;
  missing) user="    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: rb-sso-helper-not-installed
      installHint: 'install rb-sso-helper: apt install rb-sso-helper'" ;;
  failing) user="    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: $T/kc/failing-plugin" ;;
  authprovider) user="    auth-provider:
      name: oidc
      config: {idp-issuer-url: 'https://sso.example'}" ;;
  esac
  cat >"$T/kc/$1.yaml" <<YAML
apiVersion: v1
kind: Config
current-context: sso
clusters:
- name: fake
  cluster:
    server: $KUBE_FAKE_URL
    certificate-authority-data: $CA
users:
- name: sso-user
  user:
$user
contexts:
- name: sso
  context: {cluster: fake, user: sso-user, namespace: payroll}
YAML
  printf '%s\n' "$T/kc/$1.yaml"
}
# runbook NAME KUBECONFIG [TARGET_EXTRA]: scale payroll-api to 0; LEGACY_PGPASSWORD is a secret of it
runbook() {
  cat >"$T/$1.yaml" <<YAML
$(rb_runbook_header "kube-exec-$1" "$T/state-$1")
  legacy: { driver: postgres, conninfo: "host=/nonexistent dbname=x", password_env: LEGACY_PGPASSWORD }
  cluster:
    driver: kubernetes
    kubeconfig: $2
    namespace: payroll
${3:-}
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
clear_log() { kube_fake_ctl "$F" DELETE /_control/log >/dev/null; }
api_requests() { kube_fake_log "$F" 'length'; }
tokens_used() { kube_fake_log "$F" '[.[] | .token_sha256 // "none"] | unique | join(" ")'; }
export LEGACY_PGPASSWORD=pg-secret-not-for-plugins

# 1. the plugin's token authenticates every request; one run for pre-flight and the phases
reset_plugin "$TOK_A"
printf '2999-01-01T00:00:00Z' >"$P/expiry"
rb=$(runbook one "$(kubeconfig exec)")
clear_log
assert_exit 0 "$RB_BIN" -f "$rb" execute --reason "exec plugin" --yes
assert_eq "0" "$(replicas)" "scaled to 0 with the plugin's credential"
assert_eq "$(sha "$TOK_A")" "$(tokens_used)" "every request carried the plugin's token"
assert_eq "sso-user" "$(kube_fake_log "$F" '[.[] | .user] | unique | join(" ")')" "the stand-in saw the token's user"
n=$(api_requests)
(( n >= 3 )) && rb_ok "several requests ($n) in pre-flight and freeze" || rb_fail "only $n requests"
assert_eq "1" "$(runs)" "one plugin run while the credential is unexpired ($n requests)"
assert_eq "client.authentication.k8s.io/v1 false $KUBE_FAKE_URL $CA" \
  "$(jq -r '"\(.apiVersion) \(.spec.interactive) \(.spec.cluster.server) \(.spec.cluster["certificate-authority-data"])"' "$P/info")" \
  "KUBERNETES_EXEC_INFO: apiVersion, interactive false, the cluster (provideClusterInfo)"
assert_eq "eu-west-1|unset" "$(cat "$P/env")" "the plugin's env added, the runbook's secret kept from it"
assert_not_contains "$RB_OUT$RB_ERR" "$TOK_A" "the token is not in the output"
if grep -rq "$TOK_A" "$T/state-one"; then rb_fail "the token is in the state folder (journal)"; else rb_ok "the token is not in the journal"; fi

# 2. v1beta1, an expiry already past: the plugin runs for every request, as kubectl runs it
set_replicas 3
reset_plugin "$TOK_A"
printf '2020-01-01T00:00:00Z' >"$P/expiry"
rb=$(runbook expired "$(kubeconfig exec "" v1beta1)")
clear_log
assert_exit 0 "$RB_BIN" -f "$rb" execute --reason "expired" --yes
assert_eq "0" "$(replicas)" "scaled with v1beta1 credentials"
assert_eq "$(api_requests)" "$(runs)" "an expired credential: one plugin run per request"
assert_eq "client.authentication.k8s.io/v1beta1" "$(jq -r .apiVersion "$P/info")" "v1beta1 asked for"

# 3. the first token is revoked: one 401, the plugin runs again, the request goes once more
set_replicas 3
revoke "$TOK_A"
reset_plugin "$TOK_A"
printf '%s' "$TOK_B" >"$P/then-token"
rb=$(runbook revoked "$(kubeconfig exec)")
clear_log
assert_exit 0 "$RB_BIN" -f "$rb" execute --reason "revoked" --yes
assert_eq "0" "$(replicas)" "scaled after the refresh"
assert_eq "1" "$(kube_fake_log "$F" '[.[] | select(.status == 401)] | length')" "exactly one 401"
assert_eq "$(sha "$TOK_A")" "$(kube_fake_log "$F" '[.[] | select(.status == 401)][0].token_sha256')" "the 401 answered the revoked token"
first=$(kube_fake_log "$F" '.[0] | "\(.method) \(.path)"')
assert_eq "$first 2xx" "$(kube_fake_log "$F" '.[1] | "\(.method) \(.path) \(.status / 100 | floor)xx"')" "the refused request was sent again and answered"
assert_eq "$(sha "$TOK_B")" "$(kube_fake_log "$F" '[.[1:][] | .token_sha256] | unique | join(" ")')" "every later request carried the fresh token"
assert_eq "2" "$(runs)" "two plugin runs: the first, and once after the 401 (shared by every handle)"

# 4. a fresh token refused too: the answer stands, no loop, nothing changed
set_replicas 3
reset_plugin "$TOK_A"
rb=$(runbook refused "$(kubeconfig exec)")
clear_log
assert_exit 1 "$RB_BIN" -f "$rb" execute --reason "refused" --yes
assert_contains "$RB_ERR" "401 unauthorized" "the 401 is the error"
assert_eq "2" "$(kube_fake_log "$F" '[.[] | select(.status == 401)] | length')" "the request went twice, then stopped"
assert_eq "2" "$(runs)" "the plugin ran twice, not in a loop"
assert_eq "3" "$(replicas)" "nothing changed"

# 5. a plugin that is not installed: named, its installHint shown, no request sent
clear_log
rb=$(runbook missing "$(kubeconfig missing)")
assert_exit 1 "$RB_BIN" -f "$rb" execute --reason "missing" --yes
assert_contains "$RB_ERR" "exec credential plugin 'rb-sso-helper-not-installed' of user 'sso-user': 'rb-sso-helper-not-installed' is not found in PATH" "the missing plugin named"
assert_contains "$RB_ERR" "install rb-sso-helper: apt install rb-sso-helper" "its installHint shown"
assert_eq "0" "$(api_requests)" "no request without a credential"

# 6. a plugin that fails: its exit status and last stderr line
cat >"$T/kc/failing-plugin" <<'SH'
#!/bin/sh
echo "sso: session expired, run 'sso login'" >&2
exit 4
SH
chmod 755 "$T/kc/failing-plugin"
rb=$(runbook failing "$(kubeconfig failing)")
assert_exit 1 "$RB_BIN" -f "$rb" execute --reason "failing" --yes
assert_contains "$RB_ERR" "exec credential plugin '$T/kc/failing-plugin' of user 'sso-user' exited with status 4: sso: session expired, run 'sso login'" "the failure and its stderr"
assert_eq "3" "$(replicas)" "nothing changed"

# 7. token_env wins: over an exec plugin (not run) and over an auth-provider user (usable)
reset_plugin "$TOK_B"
export RB_TEST_K8S_TOKEN=$KUBE_FAKE_TOKEN
rb=$(runbook tokenenv "$(kubeconfig exec)" "    token_env: RB_TEST_K8S_TOKEN")
clear_log
assert_exit 0 "$RB_BIN" -f "$rb" execute --reason "token_env" --yes
assert_eq "0" "$(runs)" "token_env: the plugin did not run"
assert_eq "$(sha "$KUBE_FAKE_TOKEN")" "$(tokens_used)" "token_env's token on every request"
set_replicas 3
rb=$(runbook authprov "$(kubeconfig authprovider)")
assert_exit 1 "$RB_BIN" -f "$rb" execute --reason "auth-provider" --yes
assert_contains "$RB_ERR" "authenticates with an auth-provider plugin, which rollbackctl does not support" "auth-provider refused"
assert_contains "$RB_ERR" "token_env" "the hint says token_env"
rb=$(runbook authprov2 "$(kubeconfig authprovider)" "    token_env: RB_TEST_K8S_TOKEN")
assert_exit 0 "$RB_BIN" -f "$rb" execute --reason "auth-provider + token_env" --yes
assert_eq "0" "$(replicas)" "an auth-provider user with token_env works"

# 8. the real kubectl accepts the same kubeconfig (same relative plugin path, same token)
if command -v kubectl >/dev/null 2>&1; then
  reset_plugin "$TOK_B"
  clear_log
  out=$(kubectl --request-timeout=10s --kubeconfig "$(kubeconfig exec)" get deploy -n payroll -o name)
  assert_contains "$out" "deployment.apps/payroll-api" "kubectl get deploy with the exec kubeconfig"
  assert_eq "$(sha "$TOK_B")" "$(kube_fake_log "$F" '[.[] | select(.path | startswith("/apis/apps")) | .token_sha256] | unique | join(" ")')" \
    "kubectl sent the plugin's token"
  assert_eq "1" "$(runs)" "kubectl ran the plugin once"
  assert_eq "client.authentication.k8s.io/v1 false $KUBE_FAKE_URL" \
    "$(jq -r '"\(.apiVersion) \(.spec.interactive) \(.spec.cluster.server)"' "$P/info")" "kubectl's KUBERNETES_EXEC_INFO matches ours"
else
  rb_fail "kubectl is not installed (scripts/install-deps: kubernetes-client)"
fi
