#!/usr/bin/env bash
# The pre-flight through the real CLI, against PostgreSQL, BIND and a private Kubernetes stand-in:
# before the first change, execute asks every target the runbook's actions need. Each of these
# stops the run with exit 1 before anything changed (payroll-api keeps its 3 replicas in the
# stand-in and got no PATCH, legacy has no sync ledger, the journal has no action started), naming
# the failing target and why: legacy on a wrong port; a wrong legacy password (refused at once:
# not retried); a restore step's program that does not exist; a legacy role that may not create
# the sync ledger, nor SELECT a sync target table. Several failing at once (legacy,
# the cluster's token, the DNS key, the program) are all named, one line each, then one error.
# After the runbook is fixed, resume passes the pre-flight and the rollback runs (replicas 0, the
# ledger row, the DNS record). plan with legacy unreachable warns once (not once per table) and
# exits 1 naming it; plan --offline is unaffected.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg bind
command -v nsupdate >/dev/null || rb_fail "nsupdate not found (bind9-dnsutils: scripts/install-deps)"
command -v dig >/dev/null || rb_fail "dig not found (bind9-dnsutils: scripts/install-deps)"
export PATH=$PATH:/usr/sbin

T=$(rb_tmpdir)
F=$T/kube
rb_kube_fake "$F"
rb_kube_isolate "$T/home"

NEW=$(rb_createdb pf_new)
LEG=$(rb_createdb pf_leg)
rb_psql "$NEW" "create table employees (id int primary key, created_at timestamptz not null);
  insert into employees select i, '2026-11-03Z' from generate_series(1, 5) i;
  create table payments (id int primary key, created_at timestamptz not null);
  insert into payments select i, '2026-11-04Z' from generate_series(1, 3) i;" >/dev/null
rb_psql "$LEG" "create table employees (employee_id int primary key);
  create table payroll_history (payment_id int primary key);" >/dev/null

# A role that logs in with a password over TCP only (pg_hba.conf line for it alone, first).
PW_ROLE=rb_preflight_pw
HBA=$RB_TEST_PGDATA/pg_hba.conf
hba_clean() { sed -i "/ $PW_ROLE /d" "$HBA"; rb_psql postgres "select pg_reload_conf()" >/dev/null; }
rb_on_exit rb_psql postgres "drop role if exists $PW_ROLE"
rb_on_exit hba_clean
rb_psql postgres "drop role if exists $PW_ROLE" >/dev/null 2>&1
rb_psql postgres "create role $PW_ROLE login password 'right-secret'" >/dev/null
rb_psql "$LEG" "grant all on schema public to $PW_ROLE; grant all on all tables in schema public to $PW_ROLE" >/dev/null
sed -i "/ $PW_ROLE /d" "$HBA"
sed -i "1i host all $PW_ROLE 127.0.0.1/32 scram-sha-256" "$HBA"
rb_psql postgres "select pg_reload_conf()" >/dev/null

# DNS: the record the restore step switches, and a key BIND does not know.
HOST=${RB_TEST_DNS_SERVER%:*}
PORT=${RB_TEST_DNS_SERVER##*:}
ZONE=$RB_TEST_DNS_ZONE
NAME="pf-$$-$RANDOM.${ZONE}"
SECRET=$(sed -n 's/.*secret "\(.*\)".*/\1/p' "$RB_TEST_TSIG_KEY_FILE")
printf 'server %s %s\nzone %s\nupdate delete %s\nsend\n' "$HOST" "$PORT" "$ZONE" "$NAME" >"$T/cleanup.nsupdate"
rb_on_exit nsupdate -y "hmac-sha256:$RB_TEST_TSIG_KEY_NAME:$SECRET" "$T/cleanup.nsupdate"
tsig-keygen -a hmac-sha256 rb-preflight-unknown >"$T/unknown.key"
dig_cname() { dig +norec +short -p "$PORT" "@$HOST" "$1" CNAME; }

# A kubeconfig whose token the stand-in does not know.
sed "s/$KUBE_FAKE_TOKEN/not-the-token/" "$KUBE_FAKE_KUBECONFIG" >"$T/bad-kubeconfig"

# The restore step's program: a script of our own, on PATH.
mkdir -p "$T/bin"
printf '#!/bin/sh\necho reindexed >"%s"\n' "$T/reindexed" >"$T/bin/rb-reindex"
chmod +x "$T/bin/rb-reindex"
export PATH=$T/bin:$PATH
export RB_PF_LEGACY_PW=right-secret

LEGACY_OK="host=127.0.0.1 port=$RB_TEST_PGPORT user=$PW_ROLE dbname=$LEG"
# write_runbook FILE STATE LEGACY_CONNINFO PROGRAM KUBECONFIG DNS_KEY
write_runbook() {
  cat >"$1" <<YAML
$(rb_runbook_header preflight-test "$2")
  new: { driver: postgres, conninfo: "$(rb_conninfo "$NEW")" }
  legacy: { driver: postgres, conninfo: "$3", password_env: RB_PF_LEGACY_PW, connect_timeout: 5s }
  cluster: { driver: kubernetes, kubeconfig: $5, namespace: payroll }
  dns: { driver: rfc2136, server: "$RB_TEST_DNS_SERVER", zone: $ZONE, tsig_key_file: $6, timeout: 3s }
freeze:
  - scale: { target: cluster, deployment: payroll-api, replicas: 0 }
sync:
  from: new
  to: legacy
  tables:
    - name: new_employees
      source: { table: employees, changed_since: created_at }
      target: { table: employees, key: [employee_id] }
      columns: { employee_id: id }
    - name: payments
      source: { table: payments, changed_since: created_at }
      target: { table: payroll_history, key: [payment_id] }
      columns: { payment_id: id }
restore:
  - name: Reindex legacy
    run: [$4]
  - name: Point payroll at legacy
    dns: { target: dns, name: $NAME, type: CNAME, data: legacy-app.$ZONE, ttl: 60 }
YAML
}
good() { write_runbook "$1" "$2" "$LEGACY_OK" rb-reindex "$KUBE_FAKE_KUBECONFIG" "$RB_TEST_TSIG_KEY_FILE"; }

state() { kube_fake_state "$F" "$1"; }
replicas() { state '.objects["apps/v1/deployments"].payroll["payroll-api"].spec.replicas'; }
patches() { kube_fake_log "$F" '[.[] | select(.method == "PATCH")] | length'; }
ledger() {
  if [[ "$(rb_psql "$LEG" "select to_regclass('rollbackctl_ledger') is null")" == t ]]; then
    echo none
  else
    rb_psql "$LEG" "select count(*) from rollbackctl_ledger"
  fi
}

# untouched WHAT STATE: the run stopped before the first change.
untouched() {
  local journal
  journal=$(ls "$2"/runs/*/journal.jsonl)
  assert_eq 3 "$(replicas)" "$1: payroll-api keeps its 3 replicas"
  assert_eq 0 "$(patches)" "$1: no PATCH reached the cluster"
  assert_eq none "$(ledger)" "$1: no sync ledger in legacy"
  assert_eq 0 "$(rb_psql "$LEG" 'select count(*) from employees')" "$1: no row synced"
  assert_eq 0 "$(jq -s '[.[] | select(.event == "started" or .event == "phase_started")] | length' "$journal")" \
    "$1: no action or phase started in the journal"
  assert_eq "false failed" "$(jq -rs '[(.[] | select(.event == "preflight") | .data.ok), (.[] | select(.event == "run_finished") | .data.outcome)] | join(" ")' "$journal")" \
    "$1: the journal has the failed pre-flight, then the run finished as failed"
  [[ ! -e "$T/reindexed" ]] || rb_fail "$1: the restore program ran"
  assert_eq "" "$(dig_cname "$NAME")" "$1: the DNS record is unchanged"
}

kube_fake_ctl "$F" DELETE /_control/log >/dev/null
assert_eq 3 "$(replicas)" "the stand-in starts with 3 replicas"

# --- legacy on a wrong port ----------------------------------------------------------------------
write_runbook "$T/port.yaml" "$T/state-port" "host=127.0.0.1 port=1 user=$PW_ROLE dbname=$LEG" rb-reindex \
  "$KUBE_FAKE_KUBECONFIG" "$RB_TEST_TSIG_KEY_FILE"
assert_exit 1 "$RB_BIN" -f "$T/port.yaml" execute --reason "preflight: port" --yes
assert_contains "$RB_ERR" "pre-flight: FAILED database 'legacy': unable to connect to 'legacy': connection to server at \"127.0.0.1\", port 1 failed" \
  "wrong port: legacy named with the reason"
assert_contains "$RB_ERR" "rollbackctl: error: pre-flight failed: 1 of" "wrong port: one error"
assert_contains "$RB_ERR" "(database 'legacy'); nothing was changed" "wrong port: the error names legacy"
assert_not_contains "$RB_ERR" "FAILED cluster" "wrong port: the cluster passed"
assert_not_contains "$RB_ERR" "retrying" "wrong port: the pre-flight does not retry"
untouched "wrong port" "$T/state-port"
journal=$(ls "$T"/state-port/runs/*/journal.jsonl)
assert_eq "database:new:true database:legacy:false cluster:cluster:true dns:dns:true program:rb-reindex:true" \
  "$(jq -r 'select(.event == "preflight") | [.data.checks[] | "\(.kind):\(.target):\(.ok)"] | join(" ")' "$journal")" \
  "wrong port: each target's result journaled (sync tables not checked without legacy)"

# --- a wrong password: refused at once, not retried -------------------------------------------------
good "$T/pw.yaml" "$T/state-pw"
RB_PF_LEGACY_PW=wrong-secret assert_exit 1 "$RB_BIN" -f "$T/pw.yaml" execute --reason "preflight: password" --yes
assert_contains "$RB_ERR" "pre-flight: FAILED database 'legacy': unable to connect to 'legacy'" "wrong password: legacy named"
assert_contains "$RB_ERR" "password authentication failed for user \"$PW_ROLE\"" "wrong password: the server's reason"
assert_contains "$RB_ERR" "(database 'legacy'); nothing was changed" "wrong password: the error names legacy"
assert_not_contains "$RB_ERR" "right-secret" "the password is not shown"
assert_not_contains "$RB_ERR" "wrong-secret" "the wrong password is not shown either"
untouched "wrong password" "$T/state-pw"
journal=$(ls "$T"/state-pw/runs/*/journal.jsonl)
assert_contains "$(jq -c 'select(.event == "preflight") | .data.checks[] | select(.target == "legacy")' "$journal")" \
  "pg_hba.conf" "wrong password: the journaled check carries the hint about credentials"
assert_not_contains "$(cat "$journal")" "wrong-secret" "the password is not in the journal"

# --- a restore step's program that does not exist ------------------------------------------------
write_runbook "$T/prog.yaml" "$T/state-prog" "$LEGACY_OK" rb-no-such-program "$KUBE_FAKE_KUBECONFIG" "$RB_TEST_TSIG_KEY_FILE"
assert_exit 1 "$RB_BIN" -f "$T/prog.yaml" execute --reason "preflight: program" --yes
assert_contains "$RB_ERR" "pre-flight: FAILED program 'rb-no-such-program': $T/prog.yaml:25: restore/reindex-legacy: program 'rb-no-such-program' is not found in PATH" \
  "missing program named, with the step and its runbook line"
assert_contains "$RB_ERR" "  HINT: install it, or name it by its full path in the runbook" "missing program: what to do"
assert_contains "$RB_ERR" "(program 'rb-no-such-program'); nothing was changed" "missing program: the error names it"
untouched "missing program" "$T/state-prog"
assert_eq 2 "$(jq -r 'select(.event == "preflight") | [.data.checks[] | select(.kind == "sync table" and .ok)] | length' \
  "$(ls "$T"/state-prog/runs/*/journal.jsonl)")" "missing program: both sync tables passed sync's catalog checks"

# --- legacy's role may not create the ledger: met by the pre-flight, not after the freeze -----------
rb_psql "$LEG" "revoke create on schema public from $PW_ROLE" >/dev/null
good "$T/grant.yaml" "$T/state-grant"
assert_exit 1 "$RB_BIN" -f "$T/grant.yaml" execute --reason "preflight: privileges" --yes
assert_contains "$RB_ERR" "pre-flight: FAILED sync table 'new_employees': " "no CREATE: the table named"
assert_contains "$RB_ERR" "role '$PW_ROLE' may not create the sync ledger 'rollbackctl_ledger' in schema 'public' of 'legacy'" \
  "no CREATE: what is missing, where"
untouched "no CREATE on the schema" "$T/state-grant"
rb_psql "$LEG" "grant create on schema public to $PW_ROLE" >/dev/null

# --- nor SELECT a target table: the stage is made in its shape, the upsert reads the old values ------
rb_psql "$LEG" "revoke select on payroll_history from $PW_ROLE" >/dev/null
good "$T/select.yaml" "$T/state-select"
assert_exit 1 "$RB_BIN" -f "$T/select.yaml" execute --reason "preflight: select" --yes
assert_contains "$RB_ERR" "role '$PW_ROLE' may not SELECT, INSERT and UPDATE target table 'payroll_history' in 'legacy'" \
  "no SELECT on a target table: met by the pre-flight"
untouched "no SELECT on a target table" "$T/state-select"
rb_psql "$LEG" "grant select on payroll_history to $PW_ROLE" >/dev/null

# --- several at once: all named, one line each, then one error ----------------------------------------
write_runbook "$T/many.yaml" "$T/state-many" "host=127.0.0.1 port=1 user=$PW_ROLE dbname=$LEG" rb-no-such-program \
  "$T/bad-kubeconfig" "$T/unknown.key"
assert_exit 1 "$RB_BIN" -f "$T/many.yaml" execute --reason "preflight: many" --yes
assert_eq 4 "$(grep -c '^pre-flight: FAILED ' <<<"$RB_ERR")" "four failing targets, one line each"
assert_contains "$RB_ERR" "pre-flight: FAILED database 'legacy'" "legacy named"
assert_contains "$RB_ERR" "pre-flight: FAILED cluster 'cluster': " "the cluster named"
assert_contains "$RB_ERR" "401" "the cluster's reason: the token is refused"
assert_contains "$RB_ERR" "pre-flight: FAILED dns 'dns': $T/many.yaml:27: restore/point-payroll-at-legacy: unable to read '$NAME' CNAME" \
  "the DNS target named, with the step that needs it"
assert_contains "$RB_ERR" "rb-preflight-unknown" "the DNS reason: the key it does not know"
assert_contains "$RB_ERR" "pre-flight: FAILED program 'rb-no-such-program'" "the program named"
assert_eq 1 "$(grep -c '^rollbackctl: error: ' <<<"$RB_ERR")" "then one error"
assert_contains "$RB_ERR" "pre-flight failed: 4 of 5 checks (database 'legacy', cluster 'cluster', dns 'dns', program 'rb-no-such-program'); nothing was changed" \
  "the error names all four"
untouched "several" "$T/state-many"

# --- the runbook fixed: resume passes the pre-flight and the rollback runs --------------------------
run_id=$(basename "$(ls -d "$T"/state-many/runs/*)")
good "$T/many.yaml" "$T/state-many"
assert_exit 0 "$RB_BIN" -f "$T/many.yaml" resume "$run_id"
assert_contains "$RB_ERR" "pre-flight: 7 checks passed" "resume: the pre-flight passed"
assert_eq 0 "$(replicas)" "resume: payroll-api scaled to 0"
assert_eq 1 "$(patches)" "resume: one PATCH"
assert_eq 2 "$(ledger)" "resume: both tables in the ledger"
assert_eq 5 "$(rb_psql "$LEG" 'select count(*) from employees')" "resume: the rows synced"
assert_eq reindexed "$(cat "$T/reindexed")" "resume: the restore program ran"
assert_eq "legacy-app.$ZONE" "$(dig_cname "$NAME")" "resume: the DNS record switched"
journal=$T/state-many/runs/$run_id/journal.jsonl
assert_eq "false true" "$(jq -r 'select(.event == "preflight") | .data.ok' "$journal" | paste -sd' ')" \
  "resume: a second pre-flight journaled, passed"
assert_eq "preflight phase_started" \
  "$(jq -rs 'map(.event) | index("resumed") as $i | .[$i+1:$i+3] | join(" ")' "$journal")" \
  "resume: the pre-flight comes before the first phase"

# --- resume asks only what the actions not yet done need ----------------------------------------------
# The same runbook in a new run, stopped by a restore program that fails: freeze and sync are done.
kube_fake_ctl "$F" POST /_control/objects "$(jq -c '{items: [.items[] | select(.kind == "Deployment")]}' \
  "$RB_SOURCE_DIR/tests/fakes/payroll-cluster.json")" >/dev/null
printf '#!/bin/sh\nexit 3\n' >"$T/bin/rb-fail"
chmod +x "$T/bin/rb-fail"
write_runbook "$T/part.yaml" "$T/state-part" "$LEGACY_OK" rb-fail "$KUBE_FAKE_KUBECONFIG" "$RB_TEST_TSIG_KEY_FILE"
assert_exit 1 "$RB_BIN" -f "$T/part.yaml" execute --reason "preflight: partial" --yes
assert_eq 0 "$(replicas)" "partial: freeze done"
# now legacy would fail, but only the restore steps are left (no scale step: the cluster is not
# asked either)
write_runbook "$T/part.yaml" "$T/state-part" "host=127.0.0.1 port=1 dbname=x" rb-reindex "$KUBE_FAKE_KUBECONFIG" \
  "$RB_TEST_TSIG_KEY_FILE"
assert_exit 0 "$RB_BIN" -f "$T/part.yaml" resume
assert_eq "dns:dns:true program:rb-reindex:true" \
  "$(jq -r 'select(.event == "preflight") | [.data.checks[] | "\(.kind):\(.target):\(.ok)"] | join(" ")' \
     "$(ls "$T"/state-part/runs/*/journal.jsonl)" | tail -n 1)" \
  "partial: resume checked only the DNS target and the program of the steps left"

# --- plan: an unreachable target is warned about once and fails the plan ------------------------------
write_runbook "$T/plan.yaml" "$T/state-plan" "host=127.0.0.1 port=1 user=$PW_ROLE dbname=$LEG" rb-reindex \
  "$KUBE_FAKE_KUBECONFIG" "$RB_TEST_TSIG_KEY_FILE"
assert_exit 1 "$RB_BIN" -f "$T/plan.yaml" plan
assert_eq 1 "$(grep -c "unable to connect to 'legacy'" <<<"$RB_ERR")" "plan: the warning about legacy printed once"
assert_contains "$RB_ERR" "rollbackctl: error: plan could not read target 'legacy'" "plan: ends with an error naming legacy"
assert_contains "$RB_OUT" "sync/payments" "plan: the plan is still shown"
assert_exit 1 "$RB_BIN" -f "$T/plan.yaml" execute --dry-run --reason "dry run"
assert_contains "$RB_ERR" "plan could not read target 'legacy'" "execute --dry-run: the same"
assert_exit 0 "$RB_BIN" -f "$T/plan.yaml" plan --offline
assert_not_contains "$RB_ERR" "legacy" "plan --offline contacts nothing and does not fail"
good "$T/plan-good.yaml" "$T/state-plan"
assert_exit 0 "$RB_BIN" -f "$T/plan-good.yaml" plan

# A DNS server that does not answer: plan says so once and exits 1, as for a database.
cat >"$T/dns-down.yaml" <<YAML
$(rb_runbook_header dns-down "$T/state-dns-down")
  dns: { driver: rfc2136, server: "127.0.0.1:1", zone: example.test., timeout: 1s }
restore:
  - name: Point payroll
    dns: { target: dns, name: payroll, type: CNAME, data: legacy-app.example.test., ttl: 60 }
YAML
assert_exit 1 "$RB_BIN" -f "$T/dns-down.yaml" plan
assert_contains "$RB_ERR" "plan could not read target 'dns'" "plan fails naming the DNS server it could not reach"
assert_eq 1 "$(grep -c "no answer from DNS server" <<<"$RB_ERR")" "the warning once"
