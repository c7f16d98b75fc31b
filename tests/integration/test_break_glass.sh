#!/usr/bin/env bash
# test_break_glass: break-glass.sh rolls back the way rollbackctl does (issue 13, "Assets").
# Two copies of the sync fixture (the contract's three tables and the nasty-names table), two
# private Kubernetes stand-ins, two DNS names in the test BIND and two in the test PowerDNS: A is rolled back by
# `rollbackctl execute`, B by the break-glass.sh that `rollbackctl prepare` wrote for B's runbook
# (the same runbook but for its targets), run with real psql, kubectl and nsupdate. Then:
#   - bash -n accepts the script, and no secret value (database password, cluster token, PowerDNS
#     API key) is in it;
#   - every synced legacy table of A and B is byte-equal (ordered COPY text), as are the table a
#     restore sql step changed and the file a restore run step with a nasty name made;
#   - both stand-ins hold the same replicas, suspended CronJobs and remaining Jobs; the DNS names
#     point at the same data with the same TTL; the script kept the replica count it found;
#   - a second run of the script changes nothing (tables still equal, steps already done).
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/fakes/kube_fake.sh"
rb_require pg
rb_require bind
rb_require pdns
for p in kubectl nsupdate dig; do
  command -v "$p" >/dev/null 2>&1 || rb_skip "$p is not installed (scripts/install-deps)"
done
SF=$RB_SOURCE_DIR/tests/integration/sync
T=$(rb_tmpdir)
export HOME=$T/home
mkdir -p "$HOME"
HOST=${RB_TEST_DNS_SERVER%:*}
PORT=${RB_TEST_DNS_SERVER##*:}
ZONE=$RB_TEST_DNS_ZONE
export RB_BG_PG_SECRET="pg-secret-$RANDOM$RANDOM"
export RB_BG_PDNS_KEY=$RB_TEST_PDNS_API_KEY
PZONE=$RB_TEST_PDNS_ZONE
pdns_api() { # BODY
  curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -X PATCH -H "X-API-Key: $RB_TEST_PDNS_API_KEY" \
    -H 'Content-Type: application/json' --data "$1" "$RB_TEST_PDNS_URL/api/v1/servers/localhost/zones/$PZONE"
}

# --- A and B: databases, stand-ins (credentials only through token_env), DNS names -------------
nsupdate_k() { nsupdate -t 10 -k "$RB_TEST_TSIG_KEY_FILE"; }
for side in A B; do
  db_new=$(rb_createdb "bg_new_$side")
  db_leg=$(rb_createdb "bg_legacy_$side")
  for f in new nasty_new; do rb_psql "$db_new" - <"$SF/$f.sql" >/dev/null; done
  for f in legacy nasty_legacy; do rb_psql "$db_leg" - <"$SF/$f.sql" >/dev/null; done
  rb_psql "$db_leg" "create table system_config (key text primary key, value text not null);
    insert into system_config values ('system_mode', 'MAINTENANCE')" >/dev/null
  rb_kube_fake "$T/kube-$side"
  # a kubeconfig whose user has no credentials: the token can only come from token_env
  cat >"$T/kube-$side/bg.kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: bg
clusters:
- name: fake
  cluster: { server: "$KUBE_FAKE_URL", certificate-authority: "$KUBE_FAKE_CA" }
users:
- name: nobody
  user: {}
contexts:
- name: bg
  context: { cluster: fake, user: nobody, namespace: payroll }
EOF
  name="bg-$side-$$-$RANDOM.$ZONE"
  printf 'server %s %s\nzone %s\nupdate delete %s\nupdate add %s 300 CNAME new-app.%s\nsend\n' \
    "$HOST" "$PORT" "$ZONE" "$name" "$name" "$ZONE" | nsupdate_k
  printf 'server %s %s\nzone %s\nupdate delete %s\nsend\n' "$HOST" "$PORT" "$ZONE" "$name" >"$T/cleanup-$side.nsupdate"
  rb_on_exit nsupdate -t 10 -k "$RB_TEST_TSIG_KEY_FILE" "$T/cleanup-$side.nsupdate"
  pname="bg-$side-$$-$RANDOM.$PZONE"
  assert_eq 204 "$(pdns_api '{"rrsets":[{"name":"'"$pname"'","type":"CNAME","ttl":300,"changetype":"REPLACE","records":[{"content":"new-app.'"$PZONE"'","disabled":false}]}]}')" \
    "PowerDNS starting state for $side"
  rb_on_exit pdns_api '{"rrsets":[{"name":"'"$pname"'","type":"CNAME","changetype":"DELETE"}]}'
  declare "NEW_$side=$db_new" "LEG_$side=$db_leg" "TOKEN_$side=$KUBE_FAKE_TOKEN" "NAME_$side=$name" \
    "PNAME_$side=$pname"
  # a file name with a quote, a space, $ and ; made by a restore run step
  declare "MARK_$side=$T/marks/done $side it's \$HOME; \`x\`"
done
mkdir -p "$T/marks"

runbook() { # SIDE -> $T/runbook-SIDE.yaml
  local s=$1 new leg name pname mark
  new=NEW_$s leg=LEG_$s name=NAME_$s pname=PNAME_$s mark=MARK_$s
  # the mark's path in YAML single quotes (only ' needs doubling there)
  local mark_yaml=${!mark//\'/\'\'}
  cat >"$T/runbook-$s.yaml" <<EOF
version: 1
name: "break-glass test: it's \$5; ok"
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state-$s
targets:
  new: { driver: postgres, conninfo: "$(rb_conninfo "${!new}")" }
  legacy: { driver: postgres, conninfo: "$(rb_conninfo "${!leg}")", password_env: RB_BG_PG_SECRET }
  cluster: { driver: kubernetes, kubeconfig: "$T/kube-$s/bg.kubeconfig", context: bg, namespace: payroll, token_env: RB_BG_KUBE_TOKEN, timeout: 10s }
  dns: { driver: rfc2136, server: "$RB_TEST_DNS_SERVER", zone: $ZONE, tsig_key_file: "$RB_TEST_TSIG_KEY_FILE", timeout: 5s }
  pdns: { driver: powerdns, url: "$RB_TEST_PDNS_URL", zone: $PZONE, api_key_env: RB_BG_PDNS_KEY, timeout: 5s }
freeze:
  - scale: { target: cluster, deployment: payroll-api, replicas: 0 }
  - suspend_cronjobs: { target: cluster, selector: app=payroll }
  - delete_jobs: { target: cluster, selector: app=payroll }
  - snapshot: { target: cluster }
sync:
  from: new
  to: legacy
  tables:
$(sed -n '/^    - name: new_employees/,$p' "$SF/runbook.yaml.in")
$(sed -n '/^    - name: nasty/,$p' "$SF/nasty.yaml.in")
restore:
  - name: "Update system mode"
    sql: { target: legacy, statement: "update system_config set value = 'ACTIVE' where key = 'system_mode'" }
    verify: { target: legacy, sql: "select value = 'ACTIVE' from system_config where key = 'system_mode'" }
  - name: "Mark it's done; \$HOME"
    run: [touch, '$mark_yaml']
    verify: { run: [test, -e, '$mark_yaml'] }
  - name: Point payroll DNS at legacy
    dns: { target: dns, name: ${!name}, type: CNAME, data: legacy-app.$ZONE, ttl: 60 }
  - name: Point payroll at legacy in PowerDNS
    dns: { target: pdns, name: ${!pname}, type: CNAME, data: legacy-app, ttl: 60 }
  - name: Start legacy workers
    scale: { target: cluster, deployment: legacy-payroll-worker, replicas: 2 }
verify:
  - name: Synced payments match
    compare: { table: processed_payments }
  - name: Employee count
    equal:
      new: { target: new, sql: select count(*) from employees }
      legacy: { target: legacy, sql: select count(*) from employees }
prepare:
  contacts:
    - { role: Payroll migration lead, email: payroll-oncall@example.com, phone: "+1 555 0100" }
EOF
}
runbook A
runbook B
assert_exit 0 "$RB_BIN" -f "$T/runbook-A.yaml" validate

# --- A: rollbackctl ------------------------------------------------------------------------------
RB_BG_KUBE_TOKEN=$TOKEN_A assert_exit 0 "$RB_BIN" -f "$T/runbook-A.yaml" execute --yes --reason t

# --- B: the script prepare wrote (whatever its checks say: assets are always written) -----------
RB_BG_KUBE_TOKEN=$TOKEN_B "$RB_BIN" -f "$T/runbook-B.yaml" -o json prepare >"$T/prepare.json" 2>"$T/prepare.err" || true
ASSETS=$(jq -r '.assets // empty' "$T/prepare.json")
[ -n "$ASSETS" ] || rb_fail "prepare wrote no assets folder: $(cat "$T/prepare.json" "$T/prepare.err")"
SCRIPT=$ASSETS/break-glass.sh
[ -s "$SCRIPT" ] || rb_fail "no break-glass.sh in $ASSETS"
assert_exit 0 bash -n "$SCRIPT"
script=$(cat "$SCRIPT")
assert_not_contains "$script" "$RB_BG_PG_SECRET" "the database password is not in the script"
assert_not_contains "$script" "$TOKEN_B" "the cluster token is not in the script"
assert_not_contains "$script" "$RB_BG_PDNS_KEY" "the PowerDNS API key is not in the script"
assert_contains "$script" "rb_need_env RB_BG_KUBE_TOKEN" "the script names the variables it reads"
assert_contains "$script" "$(sha256sum "$T/runbook-B.yaml" | cut -d' ' -f1)" "the script names the runbook's sha256"

run_script() {
  (cd "$T" && BREAK_GLASS_OUT=$T/bg-out RB_BG_KUBE_TOKEN=$TOKEN_B bash "$SCRIPT") >"$T/script.out" 2>&1 ||
    rb_fail "break-glass.sh failed: $(tail -n 30 "$T/script.out")"
}
run_script
cp "$T/script.out" "$T/script-1.out"

# --- same outcome --------------------------------------------------------------------------------
tables_equal() { # WHEN
  local tk t key
  for tk in employees:employee_id payroll_history:payment_id employee_tax:emp_id \
    '"LEGACY"."PAY.RECORD S":"Id"' system_config:key; do
    t=${tk%:*} key=${tk##*:}
    assert_eq "$(rb_psql "$LEG_A" "copy (select * from $t order by $key) to stdout" | md5sum)" \
      "$(rb_psql "$LEG_B" "copy (select * from $t order by $key) to stdout" | md5sum)" \
      "legacy $t equal in A and B $1"
  done
}
tables_equal "after the first run"
assert_eq "140" "$(rb_psql "$LEG_B" "select count(*) from employees")" "the script synced the new employees"
assert_eq "ACTIVE" "$(rb_psql "$LEG_B" "select value from system_config")" "restore sql step ran"
if [ ! -e "$MARK_A" ] || [ ! -e "$MARK_B" ]; then rb_fail "the run step did not make both marks: $(ls "$T/marks")"; fi

cluster_state() { # SIDE
  local f=$T/kube-$1
  kube_fake_state "$f" '[.objects["apps/v1/deployments"].payroll | to_entries[] | "\(.key)=\(.value.spec.replicas)"] | sort | join(" ")'
  kube_fake_state "$f" '[.objects["batch/v1/cronjobs"].payroll | to_entries[] | "\(.key)=\(.value.spec.suspend // false)"] | sort | join(" ")'
  kube_fake_state "$f" '[.objects["batch/v1/jobs"].payroll // {} | keys[]] | sort | join(" ")'
}
assert_eq "$(cluster_state A)" "$(cluster_state B)" "replicas, suspended cronjobs and jobs equal in both stand-ins"
assert_contains "$(cluster_state B)" "legacy-payroll-worker=2 payroll-api=0" "B scaled like A"
assert_contains "$(cluster_state B)" "hr-sync=false payroll-nightly=true payroll-tax-export=true" "B suspended like A"
assert_eq "hr-sync-28871200" "$(cluster_state B | tail -n 1)" "B deleted the payroll jobs only"
assert_eq "3" "$(cat "$T/bg-out/freeze-1-replicas-payroll-api")" "the script kept the replica count it found"
snap=$(cat "$T"/bg-out/freeze-4-snapshot-*.yaml)
assert_contains "$snap" "payroll-config" "the namespace snapshot holds the ConfigMap"
assert_not_contains "$snap" "kind: Secret" "and no Secret"

dig_rr() { dig +norec +noall +answer -p "$PORT" "@$HOST" "$1" CNAME | awk '{print $2, $4, $5}'; }
assert_eq "60 CNAME legacy-app.$ZONE" "$(dig_rr "$NAME_A")" "rollbackctl set A's record"
assert_eq "$(dig_rr "$NAME_A")" "$(dig_rr "$NAME_B")" "the script set B's record the same way"
pdig_rr() { dig +norec +noall +answer -p "$RB_TEST_PDNS_DNS_PORT" @127.0.0.1 "$1" CNAME | awk '{print $2, $4, $5}'; }
assert_eq "60 CNAME legacy-app.$PZONE" "$(pdig_rr "$PNAME_A")" "rollbackctl set A's PowerDNS record"
assert_eq "$(pdig_rr "$PNAME_A")" "$(pdig_rr "$PNAME_B")" "the script set B's PowerDNS record the same way"

# --- a second run changes nothing ------------------------------------------------------------------
run_script
tables_equal "after a second run"
assert_contains "$(cat "$T/script.out")" "0 inserted, 0 updated" "the upserts found every row equal"
assert_contains "$(cat "$T/script.out")" "already done: its verify passes" "verified steps skipped"
assert_eq "3" "$(cat "$T/bg-out/freeze-1-replicas-payroll-api")" "the first replica count is kept"
assert_eq "$(cluster_state A)" "$(cluster_state B)" "the stand-ins still agree"
assert_eq "$(dig_rr "$NAME_A")" "$(dig_rr "$NAME_B")" "the records still agree"
assert_eq "$(pdig_rr "$PNAME_A")" "$(pdig_rr "$PNAME_B")" "the PowerDNS records still agree"
