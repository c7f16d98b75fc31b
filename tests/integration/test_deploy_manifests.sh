#!/usr/bin/env bash
# test_deploy_manifests: deploy/'s Kubernetes manifests are accepted by the real kubectl
# (apply --dry-run=client, then a real apply, against a private Kubernetes stand-in), refer to
# each other correctly (ServiceAccount, Secret keys, ConfigMap items, volume claims), carry a
# runbook that validates as the pod would see it, with templates equal to config/templates, and
# grant the ServiceAccount what that runbook's prepare checks: in-cluster, as the ServiceAccount,
# permissions.cluster is READY with deploy/rbac.yaml's rules and NOT_READY without any one of them.
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/fakes/kube_fake.sh"

command -v kubectl >/dev/null 2>&1 || rb_skip "kubectl is not installed (scripts/install-deps)"
/usr/bin/python3 -c 'import yaml' 2>/dev/null || rb_skip "python3-yaml is not installed (scripts/install-deps)"

deploy=$RB_SOURCE_DIR/deploy
tmp=$(rb_tmpdir)
kube_fake_start "$tmp/kube"
rb_on_exit kube_fake_stop "$tmp/kube"
export KUBECONFIG=$KUBE_FAKE_KUBECONFIG

ndocs=$(/usr/bin/python3 - "$deploy" <<'EOF'
import glob, sys, yaml
n = 0
for f in sorted(glob.glob(sys.argv[1] + "/*.yaml")):
    for d in yaml.safe_load_all(open(f)):
        if d is None:
            continue
        assert d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"), f
        n += 1
print(n)
EOF
)
(( ndocs >= 10 )) && rb_ok "deploy/ holds $ndocs manifests" || rb_fail "deploy/ holds only $ndocs manifests"

assert_exit 0 kubectl apply --dry-run=client --validate=false -f "$deploy"
assert_eq "$ndocs" "$(grep -c ' created (dry run)$' <<<"$RB_OUT")" "kubectl accepts every manifest (dry run)"
assert_contains "$RB_OUT" "cronjob.batch/rollbackctl-prepare created (dry run)"
assert_eq "0" "$(kube_fake_state "$tmp/kube" '[.objects["batch/v1/cronjobs"]["payroll-ops"] // {} | keys[]] | length')" \
  "the dry run created nothing"
assert_exit 0 kubectl apply --validate=false -f "$deploy"
assert_eq "rollbackctl" \
  "$(kube_fake_state "$tmp/kube" '.objects["batch/v1/cronjobs"]["payroll-ops"]["rollbackctl-prepare"].spec.jobTemplate.spec.template.spec.serviceAccountName')" \
  "the CronJob as kubectl sent it runs as the rollbackctl ServiceAccount"

# Cross-references, the runbook and templates as the pod mounts them, and the RBAC rules in the
# stand-in's format for the ServiceAccount's user.
/usr/bin/python3 - "$deploy" "$RB_SOURCE_DIR/config/templates" "$tmp" <<'EOF'
import glob, json, os, sys, yaml
deploy, templates, tmp = sys.argv[1:]
docs = [d for f in sorted(glob.glob(deploy + "/*.yaml")) for d in yaml.safe_load_all(open(f)) if d]
def one(kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) >= 1, (kind, name)
    return found[0]
cj = one("CronJob")
pod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
sa = one("ServiceAccount", pod["serviceAccountName"])
ns = sa["metadata"]["namespace"]
assert cj["metadata"]["namespace"] == ns
c = pod["containers"][0]
assert "prepare" in c["args"] and c["args"][0] == "-f", c["args"]
assert pod["securityContext"]["runAsNonRoot"] is True
secret = one("Secret", "rollbackctl-secrets")
env = {}
for e in c["env"]:
    ref = e.get("valueFrom", {}).get("secretKeyRef")
    if ref:
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"], e
        env[e["name"]] = secret["stringData"][ref["key"]]
    else:
        env[e["name"]] = e["value"]
vols = {v["name"]: v for v in pod["volumes"]}
mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
cmv = vols[mounts["/etc/rollbackctl"]]["configMap"]
cm = one("ConfigMap", cmv["name"])
pod_dir = os.path.join(tmp, "pod/etc/rollbackctl")
for item in cmv["items"]:
    assert item["key"] in cm["data"], item
    path = os.path.join(pod_dir, item["path"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").write(cm["data"][item["key"]])
for t in os.listdir(templates):
    assert cm["data"].get(t) == open(os.path.join(templates, t)).read(), "template %s differs from config/templates" % t
    assert os.path.exists(os.path.join(pod_dir, "templates", t)), "template %s is not mounted" % t
claims = {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"}
for v in pod["volumes"]:
    if "persistentVolumeClaim" in v and v["name"] == "state":
        assert v["persistentVolumeClaim"]["claimName"] in claims, v
    if "secret" in v:
        assert v["secret"]["secretName"] == secret["metadata"]["name"]
        for item in v["secret"]["items"]:
            assert item["key"] in secret["stringData"], item
rb = yaml.safe_load(cm["data"]["runbook.yaml"])
for tname, t in rb["targets"].items():
    for k, var in t.items():
        if k.endswith("_env"):
            assert var in env, "runbook target %s names %s, which the CronJob does not set" % (tname, var)
assert "kubeconfig" not in rb["targets"]["cluster"], "the cluster target must use the ServiceAccount"
state_dir = rb["state_dir"]
assert any(state_dir == m or state_dir.startswith(m + "/") for m, n in mounts.items() if n == "state"), state_dir
json.dump(env, open(os.path.join(tmp, "env.json"), "w"))
# The ServiceAccount's rules as the stand-in takes them (namespaces from each Role's binding).
user = "system:serviceaccount:%s:%s" % (ns, sa["metadata"]["name"])
rules = []
for b in docs:
    if b["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
        continue
    if not any(s["kind"] == "ServiceAccount" and s["name"] == sa["metadata"]["name"] and s["namespace"] == ns
               for s in b["subjects"]):
        continue
    role = [d for d in docs if d["kind"] == b["roleRef"]["kind"] and d["metadata"]["name"] == b["roleRef"]["name"]
            and d["metadata"].get("namespace") == b["metadata"].get("namespace")][0]
    for r in role["rules"]:
        r = dict(r)
        if b["kind"] == "RoleBinding":
            r["namespaces"] = [b["metadata"]["namespace"]]
        rules.append(r)
json.dump({"user": user, "rules": rules}, open(os.path.join(tmp, "rbac.json"), "w"))
EOF
rb_ok "manifests refer to each other; the mounted templates are config/templates'"

# The runbook, as mounted, validates with the CronJob's environment (no variable unset).
while IFS=$'\t' read -r k v; do export "$k=$v"; done < <(jq -r 'to_entries[] | "\(.key)\t\(.value)"' "$tmp/env.json")
assert_exit 0 "$RB_BIN" -f "$tmp/pod/etc/rollbackctl/runbook.yaml" validate
assert_contains "$RB_OUT" "is valid"
assert_not_contains "$RB_ERR" "is not set" "every variable the runbook names comes from the Secret"

# In the cluster as the ServiceAccount: the runbook's other targets made unreachable at once, its
# cluster target the stand-in (in-cluster variables and a service account folder).
sa_user=$(jq -r .user "$tmp/rbac.json")
sa_token=$(openssl rand -hex 24)
printf '%s,%s,uid-sa,"system:serviceaccounts"\n' "$sa_token" "$sa_user" >>"$KUBE_FAKE_TOKEN_FILE"
mkdir -p "$tmp/sa"
printf '%s' "$sa_token" >"$tmp/sa/token"
cp "$KUBE_FAKE_CA" "$tmp/sa/ca.crt"
printf 'payroll-ops' >"$tmp/sa/namespace"
sed -e "s|state_dir: /var/lib/rollbackctl/payroll|state_dir: $tmp/state|" \
    -e 's|conninfo: "host=[a-z-]*\.internal|conninfo: "host=/nonexistent-rb-test|' \
    -e 's|http://prometheus.internal:9090|http://127.0.0.1:9|; s|http://pushgateway.internal:9091|http://127.0.0.1:9|' \
    -e 's|smtps://smtp.example.com:465|smtp://127.0.0.1:9|; s|10.0.0.53:53|127.0.0.1:9|' \
    -e 's|http://legacy-app.internal:8080|http://127.0.0.1:9|; s|timeout: 5s|timeout: 1s|' \
    -e 's|file: /backups/legacy/payroll.dump|file: '"$tmp"'/no-backup.dump|' \
    "$tmp/pod/etc/rollbackctl/runbook.yaml" >"$tmp/pod/etc/rollbackctl/test.yaml"
printf 'key "rollback" {\n    algorithm hmac-sha256;\n    secret "Y2hhbmdlLW1lLWNoYW5nZS1tZS1jaGFuZ2UtbWUtY2g=";\n};\n' >"$tmp/rollback.key"
sed -i "s|/etc/rollbackctl/secret/rollback.key|$tmp/rollback.key|" "$tmp/pod/etc/rollbackctl/test.yaml"
grep -q '\.internal\|example\.com:465\|10\.0\.0\.' "$tmp/pod/etc/rollbackctl/test.yaml" &&
  rb_fail "the test runbook still names a host off this machine"
rb_ok "test runbook: only loopback and the stand-in"

prepare_cluster_line() { # RULES_JSON -> the permissions.cluster line of prepare's text output
  kube_fake_ctl "$tmp/kube" POST /_control/rbac "{\"users\":{\"$sa_user\":$1}}" >/dev/null
  local rc=0
  env -u KUBECONFIG HOME="$tmp/home" KUBERNETES_SERVICE_HOST=127.0.0.1 \
    KUBERNETES_SERVICE_PORT="$(cat "$tmp/kube/port")" ROLLBACKCTL_SERVICEACCOUNT_DIR="$tmp/sa" \
    timeout 120 "$RB_BIN" -f "$tmp/pod/etc/rollbackctl/test.yaml" prepare \
    >"$tmp/prepare.out" 2>"$tmp/prepare.err" || rc=$?
  [[ $rc == 0 || $rc == 1 ]] || rb_fail "prepare exit $rc: $(tail -3 "$tmp/prepare.err")"
  grep 'permissions\.cluster' "$tmp/prepare.out" || rb_fail "no permissions.cluster line: $(cat "$tmp/prepare.out")"
}
mkdir -p "$tmp/home"
line=$(prepare_cluster_line "$(jq -c .rules "$tmp/rbac.json")")
[[ "$line" == *NOT_READY* ]] && rb_fail "with deploy/rbac.yaml's rules: $line"
assert_contains "$line" "READY" "permissions.cluster is READY with deploy/rbac.yaml's rules"
nrules=$(jq '.rules | length' "$tmp/rbac.json")
for ((i = 0; i < nrules; i++)); do
  rule=$(jq -c ".rules[$i] | {apiGroups, resources, verbs}" "$tmp/rbac.json")
  [[ "$rule" == *selfsubjectaccessreviews* ]] && continue # system:basic-user grants it anyway
  line=$(prepare_cluster_line "$(jq -c "del(.rules[$i]) | .rules" "$tmp/rbac.json")")
  [[ "$line" == *NOT_READY* ]] && rb_ok "without $rule: NOT_READY" ||
    rb_fail "rule $rule is not needed by prepare's permission check: $line"
done
