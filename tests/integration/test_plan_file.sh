#!/usr/bin/env bash
# The reviewed plan (issue 16): plan -o json gives each action's fields (the sync SQL and the rows
# it would move, the scale request's method, path and body with the replicas now, the DNS name,
# the new value and the old one read from BIND, a restore statement); an offline plan has the same
# definitions and so the same plan hash (its namespace read from the kubeconfig context, as
# execute's); `plan --out` writes them (0600) with that hash. `execute --plan FILE` refuses, exit
# 1, naming the difference, with nothing changed on any server (the DNS record by dig, the replica
# count in the stand-in, the legacy table) when: the file was edited (its plan_sha256 no longer
# matches), the runbook changed a step's value, a step was added, the severity differs; a file
# that is missing or no plan file is exit 2. --dry-run --plan compares and changes nothing. The
# file as planned: execute runs, the legacy side changes as planned, and the journal's run_started
# and status carry the plan hash; an execute without --plan journals its plan hash too.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg bind
command -v dig >/dev/null || rb_fail "dig not found (bind9-dnsutils: scripts/install-deps)"
command -v nsupdate >/dev/null || rb_fail "nsupdate not found (bind9-dnsutils: scripts/install-deps)"
export PATH=$PATH:/usr/sbin

T=$(rb_tmpdir)
F=$T/kube
rb_kube_fake "$F"
rb_kube_isolate "$T/home"

HOST=${RB_TEST_DNS_SERVER%:*}
PORT=${RB_TEST_DNS_SERVER##*:}
ZONE=$RB_TEST_DNS_ZONE
NAME="payroll-plan-$$-$RANDOM.${ZONE}"
SECRET=$(sed -n 's/.*secret "\(.*\)".*/\1/p' "$RB_TEST_TSIG_KEY_FILE")
printf 'server %s %s\nzone %s\nupdate delete %s\nsend\n' "$HOST" "$PORT" "$ZONE" "$NAME" >"$T/cleanup.nsupdate"
rb_on_exit nsupdate -y "hmac-sha256:$RB_TEST_TSIG_KEY_NAME:$SECRET" "$T/cleanup.nsupdate"
nsupdate -y "hmac-sha256:$RB_TEST_TSIG_KEY_NAME:$SECRET" <<EOF
server $HOST $PORT
zone $ZONE
update delete $NAME CNAME
update add $NAME 300 CNAME new-app.$ZONE
send
EOF
dig_cname() { dig +norec +short -p "$PORT" "@$HOST" "$NAME" CNAME; }
assert_eq "new-app.$ZONE" "$(dig_cname)" "starting state set with nsupdate"

NEW=$(rb_createdb plan_new)
LEG=$(rb_createdb plan_leg)
rb_psql "$NEW" "create table employees (id int primary key, name text, created_at timestamptz not null);
  insert into employees select i, 'e' || i, case when i <= 7 then '2026-11-03Z'::timestamptz else '2026-10-01Z' end
    from generate_series(1, 20) i;" >/dev/null
rb_psql "$LEG" "create table employees (employee_id int primary key, full_name text);
  insert into employees select i, 'e' || i from generate_series(8, 20) i;
  create table system_config (key text primary key, value text);
  insert into system_config values ('system_mode', 'READONLY');" >/dev/null
replicas() { kube_fake_state "$F" '.objects["apps/v1/deployments"].payroll["payroll-api"].spec.replicas'; }
legacy_state() { rb_psql "$LEG" "select (select count(*) from employees) || '|' || (select value from system_config) || '|' || coalesce(to_regclass('rollbackctl_ledger')::text, 'no ledger')"; }
assert_eq "3" "$(replicas)" "payroll-api runs 3 replicas"
assert_eq "13|READONLY|no ledger" "$(legacy_state)"

# runbook FILE DNS_DATA [EXTRA_STEP_NAME]: no namespace given, the kubeconfig context's (payroll)
runbook() {
  cat >"$1" <<YAML
$(rb_runbook_pg plan-file-test "$T/state" "$NEW" "$LEG")
  cluster: { driver: kubernetes, kubeconfig: $KUBE_FAKE_KUBECONFIG }
  dns:
    driver: rfc2136
    server: "$RB_TEST_DNS_SERVER"
    zone: $ZONE
    tsig_key_file: $RB_TEST_TSIG_KEY_FILE
freeze:
  - scale: { target: cluster, deployment: payroll-api, replicas: 0 }
sync:
  from: new
  to: legacy
  tables:
    - name: new_employees
      source: { table: employees, changed_since: created_at }
      target: { table: employees, key: [employee_id] }
      columns: { employee_id: id, full_name: name }
restore:
  - name: Update system mode
    sql: { target: legacy, statement: "update system_config set value = 'ACTIVE' where key = 'system_mode'" }
  - name: Point DNS
    dns: { target: dns, name: $NAME, type: CNAME, data: $2, ttl: 60 }
YAML
  if [[ -n "${3:-}" ]]; then
    cat >>"$1" <<YAML
  - name: $3
    run: [sh, -c, "echo extra >> $T/extra.log"]
YAML
  fi
}
RB=$T/runbook.yaml
runbook "$RB" "legacy-app.$ZONE"
mkdir -m 700 "$T/state"

# --- plan -o json: each action's fields ------------------------------------------------------------
assert_exit 0 "$RB_BIN" -f "$RB" -o json plan
echo "$RB_OUT" >"$T/plan.json"
act() { jq -c --arg n "$1" ".actions[] | select(.name == \$n) | .fields$2" "$T/plan.json"; }
assert_eq '"sync"' "$(act sync/new_employees .kind)" "sync: kind"
assert_contains "$(act sync/new_employees '.sql.source[0]')" 'COPY (SELECT id AS \"employee_id\", name AS \"full_name\" FROM \"employees\" WHERE \"created_at\" >= ' \
  "sync: the source COPY as a field"
assert_contains "$(act sync/new_employees '.sql.target | join(" ")')" 'ON CONFLICT (\"employee_id\") DO UPDATE SET' "sync: the upsert"
assert_eq "7" "$(act sync/new_employees .observed.rows)" "sync: the rows it would move, observed"
assert_eq '"PATCH"' "$(act freeze/scale-payroll-api '.requests[1].method')" "scale: the method"
assert_eq '"/apis/apps/v1/namespaces/payroll/deployments/payroll-api/scale"' \
  "$(act freeze/scale-payroll-api '.requests[1].path')" "scale: the path, in the context's namespace"
assert_eq "0" "$(act freeze/scale-payroll-api '.requests[1].body.spec.replicas')" "scale: the body"
assert_eq "3" "$(act freeze/scale-payroll-api .observed.replicas)" "scale: replicas now, observed"
assert_eq "\"$NAME\"" "$(act restore/point-dns .name)" "dns: the name"
assert_eq "\"legacy-app.$ZONE\"" "$(act restore/point-dns .new)" "dns: the new value"
assert_eq "[\"new-app.$ZONE\"]" "$(act restore/point-dns .observed.old)" "dns: the old value read from BIND"
assert_eq "300" "$(act restore/point-dns .observed.old_ttl)" "dns: and its ttl"
assert_eq "\"update system_config set value = 'ACTIVE' where key = 'system_mode'\"" \
  "$(act restore/update-system-mode .sql)" "sql: the statement"
assert_contains "$(act freeze/records-at-risk '.tables[0].sql')" 'SELECT count(*) FROM \"employees\"' "count: its statement"
assert_eq "7" "$(act freeze/records-at-risk '.observed.changed_by_table.new_employees')" "count: observed"
SHA=$(jq -r .plan_sha256 "$T/plan.json")
[[ "$SHA" =~ ^[0-9a-f]{64}$ ]] || rb_fail "plan -o json has no plan_sha256: '$SHA'"
assert_eq "$(sha256sum "$RB" | cut -c1-64)" "$(jq -r .runbook_sha256 "$T/plan.json")" "the runbook's sha256"

# docs/json.md's schemas hold for the real documents (the plan here, the plan file below)
valid() { # SCHEMA FILE
  python3 - "$RB_SOURCE_DIR/docs/json.md" "$1" "$2" <<'PY'
import json, re, sys, warnings
import jsonschema
md, name, path = sys.argv[1:]
schemas = {m.group(1): json.loads(m.group(2)) for m in
           re.finditer(r"<!-- schema: (\S+) -->\n```json\n(.*?)\n```", open(md).read(), re.S)}
try:
    from referencing import Registry, Resource
    reg = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    v = jsonschema.Draft202012Validator(schemas[name], registry=reg)
except ImportError:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        store = {s["$id"]: s for s in schemas.values()}
        v = jsonschema.Draft202012Validator(
            schemas[name], resolver=jsonschema.RefResolver.from_schema(schemas[name], store=store))
errors = list(v.iter_errors(json.load(open(path))))
for e in errors[:5]:
    print("%s at %s" % (e.message[:300], list(e.absolute_path)))
sys.exit(1 if errors else 0)
PY
}
valid plan "$T/plan.json" || rb_fail "plan -o json does not follow docs/json.md's plan schema"
rb_ok "plan -o json follows its schema"

# an offline plan reads nothing, and defines the same actions: the same hash
assert_exit 0 "$RB_BIN" -f "$RB" -o json plan --offline
assert_eq "[]" "$(echo "$RB_OUT" | jq -c '[.actions[] | select(.fields.observed != null) | .name]')" \
  "offline: nothing observed"
assert_eq "$SHA" "$(echo "$RB_OUT" | jq -r .plan_sha256)" "offline: the same plan hash"
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_OUT" "plan sha256: $SHA" "the text plan ends with its hash"

# --- plan --out ------------------------------------------------------------------------------------
P=$T/reviewed.plan.json
assert_exit 0 "$RB_BIN" -f "$RB" plan --out "$P"
assert_contains "$RB_ERR" "plan written to '$P' (plan sha256 $SHA)"
assert_eq "600" "$(stat -c %a "$P")" "the plan file is owner-only: it shows SQL"
assert_eq "$SHA" "$(jq -r .plan_sha256 "$P")" "the file's plan hash"
assert_eq "1" "$(jq -r .format_version "$P")"
valid plan-file "$P" || rb_fail "the plan file does not follow docs/json.md's plan-file schema"
rb_ok "the plan file follows its schema"
assert_eq "$(sha256sum "$RB" | cut -c1-64)" "$(jq -r .runbook.sha256 "$P")" "the file names the runbook's hash"
assert_eq "\"legacy-app.$ZONE\"" "$(jq -c '.actions[] | select(.name == "restore/point-dns") | .fields.new' "$P")"
assert_exit 2 "$RB_BIN" -f "$RB" execute --dry-run --offline --plan "$P"
assert_exit 2 "$RB_BIN" -f "$RB" execute --reason x --yes --out "$T/x"
assert_contains "$RB_ERR" "option '--out' belongs to plan"

nothing_changed() { # WHAT
  assert_eq "new-app.$ZONE" "$(dig_cname)" "$1: the DNS record unchanged"
  assert_eq "3" "$(replicas)" "$1: the replicas unchanged"
  assert_eq "13|READONLY|no ledger" "$(legacy_state)" "$1: legacy unchanged"
  [[ ! -d "$T/state/runs" ]] || rb_fail "$1: a run was started"
}

# --- a tampered plan file: refused ---------------------------------------------------------------
jq '(.actions[] | select(.name == "restore/point-dns") | .fields.new) = "evil.example."' "$P" >"$T/tampered.json"
assert_exit 1 "$RB_BIN" -f "$RB" execute --plan "$T/tampered.json" --reason "plan test" --yes
assert_contains "$RB_ERR" "does not match its plan_sha256" "an edited plan file is refused"
assert_contains "$RB_ERR" "edited or damaged since it was written"
nothing_changed "tampered file"

# --- the runbook changed a value since the plan ---------------------------------------------------
runbook "$RB" "legacy-b.$ZONE"
assert_exit 1 "$RB_BIN" -f "$RB" execute --plan "$P" --reason "plan test" --yes
assert_contains "$RB_ERR" "refusing to execute: the plan in '$P' is not what would run now: action 'restore/point-dns' differs: new is \"legacy-app.$ZONE\" in the plan, \"legacy-b.$ZONE\" now" \
  "names the action and its new value then and now"
assert_contains "$RB_ERR" "the runbook changed since the plan (sha256 " "and that the runbook changed"
assert_contains "$RB_ERR" "HINT: nothing was changed; make the plan again"
nothing_changed "changed runbook"

# --- an action added since the plan ----------------------------------------------------------------
runbook "$RB" "legacy-app.$ZONE" "Extra step"
assert_exit 1 "$RB_BIN" -f "$RB" execute --plan "$P" --reason "plan test" --yes
assert_contains "$RB_ERR" "action 'restore/extra-step' is new since the plan" "a new action is named"
[[ ! -e "$T/extra.log" ]] || rb_fail "the new step ran"
nothing_changed "added step"

# --- the plan's options ----------------------------------------------------------------------------
runbook "$RB" "legacy-app.$ZONE"
assert_exit 1 "$RB_BIN" -f "$RB" execute --plan "$P" --reason "plan test" --yes --severity high
assert_contains "$RB_ERR" "the severity differs: none in the plan, 'high' now"
nothing_changed "other severity"

# --- not a plan file: usage (exit 2) ---------------------------------------------------------------
assert_exit 2 "$RB_BIN" -f "$RB" execute --plan "$T/missing.json" --reason "plan test" --yes
assert_contains "$RB_ERR" "missing.json"
echo 'not json' >"$T/garbage.json"
assert_exit 2 "$RB_BIN" -f "$RB" execute --plan "$T/garbage.json" --reason "plan test" --yes
assert_contains "$RB_ERR" "is not JSON"
jq '.format_version = 99' "$P" >"$T/future.json"
assert_exit 2 "$RB_BIN" -f "$RB" execute --plan "$T/future.json" --reason "plan test" --yes
assert_contains "$RB_ERR" "has format_version 99"
nothing_changed "not a plan file"

# --- --dry-run --plan: compares, shows the plan, changes nothing ----------------------------------
assert_exit 0 "$RB_BIN" -f "$RB" execute --dry-run --plan "$P"
assert_contains "$RB_ERR" "the plan in '$P' is what would run now (plan sha256 $SHA)"
assert_contains "$RB_OUT" "plan sha256: $SHA"
nothing_changed "dry run"

# --- execute --plan: runs as planned ---------------------------------------------------------------
assert_exit 0 "$RB_BIN" -f "$RB" execute --plan "$P" --reason "plan test" --yes
assert_contains "$RB_ERR" "plan sha256 $SHA"
assert_eq "legacy-app.$ZONE" "$(dig_cname)" "the DNS record as planned"
assert_eq "0" "$(replicas)" "payroll-api scaled to 0 as planned"
assert_eq "20|ACTIVE|rollbackctl_ledger" "$(legacy_state)" "legacy got the 7 employees and its mode"
journal=$(ls "$T"/state/runs/*/journal.jsonl)
started() { grep '"event":"run_started"' "$1" | jq -r ".data.$2"; }
assert_eq "$SHA" "$(started "$journal" plan_sha256)" "run_started journals the plan hash"
assert_eq "$P" "$(started "$journal" plan_file)" "and the plan file"
assert_exit 0 "$RB_BIN" -f "$RB" status
assert_contains "$RB_OUT" "plan sha256:  $SHA, as reviewed in $P" "status shows the plan hash"
assert_exit 0 "$RB_BIN" -f "$RB" -o json status
assert_eq "$SHA" "$(echo "$RB_OUT" | jq -r .plan_sha256)"

# --- every execute journals its plan hash ----------------------------------------------------------
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "again" --yes
journal=$(ls -t "$T"/state/runs/*/journal.jsonl | head -n 1)
assert_eq "$SHA" "$(started "$journal" plan_sha256)" "without --plan too: the same runbook, the same hash"
assert_eq "null" "$(started "$journal" plan_file)"
