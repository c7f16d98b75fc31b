#!/usr/bin/env bash
# Secrets never leave their variables: a database password (password_env) and a Kubernetes bearer
# token (kubeconfig) are used by plan, execute and status, and neither appears in any output, the
# journal, the assets saved by the run, or the argv of the child processes a run starts.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg

T=$(rb_tmpdir)
F=$T/kube
rb_kube_fake "$F"
rb_kube_isolate "$T/home"

export RB_TEST_DB_SECRET="pw-9f3a-d0-not-leak"
NEW=$(rb_createdb sec_new)
LEG=$(rb_createdb sec_leg)
rb_psql "$NEW" "create table employees (id int primary key, created_at timestamptz not null);
  insert into employees select i, '2026-11-03Z' from generate_series(1, 5) i;" >/dev/null
rb_psql "$LEG" "create table employees (employee_id int primary key);" >/dev/null

cat >"$T/runbook.yaml" <<YAML
$(rb_runbook_header secrets-test "$T/state")
  new: { driver: postgres, conninfo: "$(rb_conninfo "$NEW")", password_env: RB_TEST_DB_SECRET }
  legacy: { driver: postgres, conninfo: "$(rb_conninfo "$LEG")", password_env: RB_TEST_DB_SECRET }
  cluster: { driver: kubernetes, kubeconfig: $KUBE_FAKE_KUBECONFIG, namespace: payroll }
freeze:
  - scale: { target: cluster, deployment: payroll-api, replicas: 0 }
  - snapshot: { target: cluster }
sync:
  from: new
  to: legacy
  tables:
    - name: new_employees
      source: { table: employees, changed_since: created_at }
      target: { table: employees, key: [employee_id] }
      columns: { employee_id: id }
restore:
  - name: Record child argv
    run: [sh, -c, "cat /proc/\$\$/cmdline | tr '\\\\0' ' ' > $T/child-argv; env | cut -d= -f1 | sort > $T/child-env-names"]
YAML

out=$T/out
"$RB_BIN" -v -f "$T/runbook.yaml" plan >"$out.plan" 2>&1 || { cat "$out.plan"; rb_fail "plan failed"; }
"$RB_BIN" -v -f "$T/runbook.yaml" -o json plan >"$out.planjson" 2>&1 || rb_fail "plan -o json failed"
"$RB_BIN" -v -f "$T/runbook.yaml" execute --reason "secrets" --yes >"$out.exec" 2>&1 || { cat "$out.exec"; rb_fail "execute failed"; }
"$RB_BIN" -f "$T/runbook.yaml" -o json status >"$out.status" 2>&1 || rb_fail "status failed"
assert_eq "5" "$(rb_psql "$LEG" 'select count(*) from employees')" "the run used the connections for real"
[ -s "$T/child-argv" ] || rb_fail "the restore step did not record its argv"

for secret in "$RB_TEST_DB_SECRET" "$KUBE_FAKE_TOKEN"; do
  hits=$(grep -rlF -- "$secret" "$out".* "$T/state" "$T/child-argv" 2>/dev/null || true)
  assert_eq "" "$hits" "no output, journal, asset or child argv holds the secret ${secret:0:6}..."
done
assert_contains "$(ls -R "$T/state")" "journal.jsonl" "the journal was searched"
assert_contains "$(ls -R "$T/state")" "assets" "the run's assets were searched"
echo "ok - secrets stay in their variables"
