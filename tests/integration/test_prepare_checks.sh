#!/usr/bin/env bash
# test_prepare_checks: prepare's permissions.<target> and channel.<target> checks (issue 13,
# "Checks") against real servers: PostgreSQL (a login role of its own, granted just what the
# runbook needs), BIND with its TSIG key, Prometheus, and private instances of a Pushgateway, the
# Kubernetes stand-in, the SMTP sink (AUTH) and the webhook receiver, so that what they received
# is this test's alone. A runbook with every kind of target, prepare.permissions and prepare.channels on:
#   - every one of these checks is READY, and its reason says what was checked;
#   - then each failure alone makes its check alone NOT_READY, the others staying READY: UPDATE
#     revoked on a legacy table (the reason names role, privilege and table), SELECT on the table
#     a signal reads, a verb the cluster forbids, a wrong Kubernetes token, the SMTP server down,
#     a wrong TSIG secret, Prometheus and then its Pushgateway unreachable (closed ports);
#   - after all of it the SMTP sink holds no mail and the webhook receiver no post (it saw HEADs).
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/fakes/kube_fake.sh"
rb_require pg bind prometheus
command -v jq >/dev/null || rb_fail "jq not found (scripts/install-deps)"
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || rb_fail "python3-aiosmtpd not found (scripts/install-deps)"

SF=$RB_SOURCE_DIR/tests/integration/sync
T=$(rb_tmpdir)
NEW=$(rb_createdb pnew)
LEG=$(rb_createdb plegacy)
rb_psql "$NEW" - <"$SF/new.sql" >/dev/null
rb_psql "$LEG" - <"$SF/legacy.sql" >/dev/null
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_file() { local i; for ((i = 0; i < 100; i++)); do [[ -s "$1" ]] && return 0; sleep 0.1; done; return 1; }

# --- a login role granted exactly what the runbook needs ----------------------------------------
ROLE=rb_prep_${BASHPID}_$RANDOM
rb_psql postgres "create role $ROLE login" >/dev/null
drop_role() {
  rb_psql "$NEW" "drop owned by $ROLE" >/dev/null 2>&1 || true
  rb_psql "$LEG" "drop owned by $ROLE" >/dev/null 2>&1 || true
  rb_psql postgres "drop role if exists $ROLE" >/dev/null 2>&1 || true
}
rb_on_exit drop_role
rb_psql "$NEW" "create table payroll_validation (variance numeric(12,2));
                grant select on employees, employee_payments, employee_tax_info, payroll_validation to $ROLE" >/dev/null
# PostgreSQL 15: PUBLIC may not create in schema public; the ledger does not exist yet
rb_psql "$LEG" "grant select, insert, update on employees, payroll_history, employee_tax to $ROLE;
                grant create on schema public to $ROLE" >/dev/null

# --- private Kubernetes stand-in, SMTP sink and webhook receiver ---------------------------------
F=$T/kube
rb_kube_fake "$F"
sed "s/$KUBE_FAKE_TOKEN/not-the-token/" "$KUBE_FAKE_KUBECONFIG" >"$T/bad-kubeconfig"

export PREP_SMTP_LOGIN=rollback-mailer PREP_SMTP_SECRET="smtp-$RANDOM$RANDOM"
mkdir -p "$T/mail" "$T/posts"
RB_SINK_SMTP_PASSWORD=$PREP_SMTP_SECRET setsid /usr/bin/python3 "$RB_SOURCE_DIR/tests/fakes/smtp_sink.py" \
  --port-file "$T/smtp.port" --dir "$T/mail" --user "$PREP_SMTP_LOGIN" --require-auth \
  </dev/null >"$T/smtp.log" 2>&1 &
rb_on_exit kill $!
wait_file "$T/smtp.port" || rb_fail "SMTP sink did not start: $(cat "$T/smtp.log")"
setsid /usr/bin/python3 "$RB_SOURCE_DIR/tests/fakes/webhook_sink.py" --port-file "$T/hook.port" \
  --dir "$T/posts" </dev/null >"$T/hook.log" 2>&1 &
rb_on_exit kill $!
wait_file "$T/hook.port" || rb_fail "webhook receiver did not start: $(cat "$T/hook.log")"
SMTP_OK="smtp://127.0.0.1:$(<"$T/smtp.port")"
export PREP_HOOK_URL="http://127.0.0.1:$(<"$T/hook.port")/hooks/rollback"
CLOSED=$(free_port) # nothing listens there
PGW_PORT=$(free_port)
prometheus-pushgateway --web.listen-address="127.0.0.1:$PGW_PORT" --persistence.file= \
  >"$T/pushgateway.log" 2>&1 &
rb_on_exit kill $!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PGW_PORT/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
PGW="http://127.0.0.1:$PGW_PORT"

# a TSIG key file with the right name and another secret
sed -E 's|secret "[^"]*"|secret "'"$(head -c 32 /dev/urandom | base64)"'"|' "$RB_TEST_TSIG_KEY_FILE" >"$T/wrong.key"

# write_runbook FILE SMTP_URL PROM_URL TSIG_KEY_FILE KUBECONFIG [PUSHGATEWAY_URL]
write_runbook() {
  cat >"$1" <<YAML
$(rb_runbook_header prepare-checks "$T/state")
  new: { driver: postgres, conninfo: "host=$RB_TEST_PGHOST port=$RB_TEST_PGPORT user=$ROLE dbname=$NEW" }
  legacy: { driver: postgres, conninfo: "host=$RB_TEST_PGHOST port=$RB_TEST_PGPORT user=$ROLE dbname=$LEG" }
  cluster: { driver: kubernetes, kubeconfig: $5, namespace: payroll, timeout: 5s }
  dns: { driver: rfc2136, server: "$RB_TEST_DNS_SERVER", zone: $RB_TEST_DNS_ZONE, tsig_key_file: $4, timeout: 3s }
  dns_script: { driver: exec, command: [true, "{{name}}", "{{data}}"] }
  metrics: { driver: prometheus, url: "$3", pushgateway: "${6:-$PGW}", timeout: 3s }
  mail: { driver: smtp, url: "$2", from: "rb@example.test", username_env: PREP_SMTP_LOGIN, password_env: PREP_SMTP_SECRET, timeout: 5s }
  chat: { driver: webhook, url_env: PREP_HOOK_URL, timeout: 5s }
signals:
  calc_error_ratio:
    target: new
    sql: select coalesce(avg((abs(variance) > 0.01)::int), 0) from payroll_validation
freeze:
  - scale: { target: cluster, deployment: payroll-api, replicas: 0 }
  - suspend_cronjobs: { target: cluster, selector: app=payroll }
  - delete_jobs: { target: cluster, selector: app=payroll }
sync:
  from: new
  to: legacy
  tables:
    - name: new_employees
      source: { table: employees, changed_since: created_at }
      target: { table: employees, key: [employee_id] }
      columns: { employee_id: id, emp_code: employee_code, full_name: full_name, status: "'A'", hire_date: hired_at }
    - name: processed_payments
      source: { table: employee_payments, changed_since: created_at, where: "status = 'completed'" }
      target: { table: payroll_history, key: [payment_id] }
      columns: { payment_id: id, emp_id: employee_id, pay_date: pay_date, gross_pay: gross_amount, net_pay: net_amount, fed_tax: federal_tax }
    - name: tax_changes
      source: { table: employee_tax_info, changed_since: updated_at }
      target: { table: employee_tax, key: [emp_id] }
      columns: { emp_id: employee_id, filing_status: filing_status, allowances: allowances }
restore:
  - name: Reset allowances
    sql: { target: legacy, statement: "update employee_tax set allowances = allowances where emp_id in (select emp_id from payroll_history where false)" }
  - name: Refresh totals
    sql: { target: legacy, statement: "do \$\$ begin perform 1; end \$\$" }
  - name: Scale legacy workers
    scale: { target: cluster, deployment: legacy-payroll-worker, replicas: 2 }
  - name: Point DNS at legacy
    dns: { target: dns, name: payroll, type: CNAME, data: legacy-app.$RB_TEST_DNS_ZONE, ttl: 60 }
communicate:
  - name: Team
    via: chat
    template: team.txt
  - name: Leads
    via: mail
    to: [leads@example.test]
    subject: rollback
    template: team.txt
prepare:
  permissions: true
  channels: true
  contacts:
    - { role: Payroll migration lead, email: lead@example.test }
YAML
  printf 'outcome: {{outcome}}\n' >"$(dirname "$1")/team.txt"
}

MINE='permissions.new permissions.legacy permissions.cluster channel.new channel.legacy channel.cluster channel.dns channel.dns_script channel.metrics channel.mail channel.chat'
# prepare FILE: `-o json prepare` (exit 0 or 1, whatever the checks not tested here say) into $T/out.json
prepare() {
  local rc=0
  "$RB_BIN" -f "$1" -o json prepare >"$T/out.json" 2>"$T/err.txt" || rc=$?
  [[ $rc == 0 || $rc == 1 ]] || rb_fail "prepare exited $rc: $(cat "$T/err.txt")"
  jq -e '.checks | type == "array"' "$T/out.json" >/dev/null || rb_fail "no checks in: $(head -c 2000 "$T/out.json")"
}
status() { jq -r --arg n "$1" '.checks[] | select(.name == $n) | .status' "$T/out.json"; }
reason() { jq -r --arg n "$1" '.checks[] | select(.name == $n) | .reason' "$T/out.json"; }
# only_not_ready NAME: NAME is NOT_READY and every other check of this test READY
only_not_ready() {
  local c
  for c in $MINE; do
    if [[ "$c" == "$1" ]]; then
      assert_eq NOT_READY "$(status "$c")" "$c NOT_READY: $(reason "$c" | head -c 200)"
    else
      [[ "$(status "$c")" == READY ]] || rb_fail "$c should stay READY, is '$(status "$c")': $(reason "$c")"
    fi
  done
  rb_ok "the other checks stay READY"
}

RB=$T/runbook.yaml
write_runbook "$RB" "$SMTP_OK" "$RB_TEST_PROM_URL" "$RB_TEST_TSIG_KEY_FILE" "$KUBE_FAKE_KUBECONFIG"
assert_exit 0 "$RB_BIN" -f "$RB" validate

# --- everything in place: all READY, each saying what it checked --------------------------------
prepare "$RB"
assert_eq "$MINE" "$(jq -r '[.checks[].name | select(startswith("permissions.") or startswith("channel."))] | join(" ")' "$T/out.json")" \
  "one permissions check per database and cluster target, one channel check per target, in runbook order"
for c in $MINE; do
  [[ "$(status "$c")" == READY ]] || rb_fail "$c: $(status "$c"): $(reason "$c")"
done
rb_ok "every permissions and channel check READY"
assert_eq true "$(jq '[.checks[] | select(.name | startswith("channel.")) | (.duration_ms | type) == "number"] | all' "$T/out.json")" \
  "each check has its duration"
assert_contains "$(reason permissions.new)" "role '$ROLE' holds SELECT on 4 tables" "new: the sync sources and the signal's table read"
assert_contains "$(reason permissions.legacy)" "role '$ROLE' holds SELECT on 3 tables, INSERT on 3, UPDATE on 3, TEMP, ledger (CREATE on schema 'public')" \
  "legacy: the sync targets, the restore statement's tables, TEMP and where the ledger would go"
assert_contains "$(reason permissions.legacy)" "not checked: restore step 'Refresh totals' (DO)" "a statement it cannot read is named"
assert_contains "$(reason permissions.cluster)" "SelfSubjectAccessReviews allowed" "cluster: the reviews"
assert_contains "$(reason permissions.cluster)" "get, patch deployments/scale" "cluster: scale needs read and patch"
assert_contains "$(reason channel.legacy)" "logged in as '$ROLE' to database '$LEG': PostgreSQL" "database: logged in, version"
assert_contains "$(reason channel.cluster)" "version v1.32.0-fake" "cluster: /version with the credentials"
assert_contains "$(reason channel.dns)" "TSIG-signed SOA query (key '$RB_TEST_TSIG_KEY_NAME.')" "dns: signed SOA query"
assert_contains "$(reason channel.dns_script)" "driver 'exec' cannot be checked without changing DNS; its command is there ($(type -P true))" \
  "exec dns: READY, saying it cannot be checked, its program found"
assert_contains "$(reason channel.metrics)" "'$RB_TEST_PROM_URL' answered /-/ready, and so did its pushgateway '$PGW'" \
  "metrics: /-/ready of Prometheus and of its Pushgateway"
assert_contains "$(reason channel.mail)" "answered EHLO and NOOP and accepted the login; nothing was sent" "smtp: EHLO and AUTH"
assert_contains "$(reason channel.chat)" "(the URL in \$PREP_HOOK_URL) answered HEAD with HTTP 405; nothing was posted" \
  "webhook: HEAD, the secret URL not shown"
assert_not_contains "$(cat "$T/out.json")" "$PREP_SMTP_SECRET" "the SMTP password is in no reason"
assert_not_contains "$(cat "$T/out.json")" "$KUBE_FAKE_TOKEN" "the cluster token is in no reason"

# --- a missing privilege: named with role, privilege and table -----------------------------------
rb_psql "$LEG" "revoke update on employee_tax from $ROLE" >/dev/null
prepare "$RB"
only_not_ready permissions.legacy
assert_contains "$(reason permissions.legacy)" "role '$ROLE' lacks UPDATE on legacy table 'employee_tax'" \
  "the reason names role, privilege and table"
rb_psql "$LEG" "grant update on employee_tax to $ROLE" >/dev/null

# --- a table a signal reads -----------------------------------------------------------------------
rb_psql "$NEW" "revoke select on payroll_validation from $ROLE" >/dev/null
prepare "$RB"
only_not_ready permissions.new
assert_contains "$(reason permissions.new)" "role '$ROLE' lacks SELECT on new table 'payroll_validation' (signal 'calc_error_ratio')" \
  "the signal's table is named with the signal"
rb_psql "$NEW" "grant select on payroll_validation to $ROLE" >/dev/null

# --- a verb the cluster forbids -------------------------------------------------------------------
kube_fake_ctl "$F" POST /_control/rbac '{"users":{"rollbackctl":[
  {"verbs":["get","list","deletecollection"],"apiGroups":["*"],"resources":["*"]},
  {"verbs":["patch"],"apiGroups":["batch"],"resources":["cronjobs"]}]}}' >/dev/null
prepare "$RB"
only_not_ready permissions.cluster
assert_contains "$(reason permissions.cluster)" "cannot patch deployments/scale 'payroll-api' in namespace 'payroll'" \
  "the denied verb is named"
kube_fake_ctl "$F" POST /_control/rbac '{"users":{"rollbackctl":[{"verbs":["*"],"apiGroups":["*"],"resources":["*"]}]}}' >/dev/null

# --- a wrong token: /version alone would not tell (often public); here it is refused -------------
write_runbook "$T/badtoken.yaml" "$SMTP_OK" "$RB_TEST_PROM_URL" "$RB_TEST_TSIG_KEY_FILE" "$T/bad-kubeconfig"
prepare "$T/badtoken.yaml"
assert_eq NOT_READY "$(status channel.cluster)" "a wrong token: channel.cluster NOT_READY"
assert_contains "$(reason channel.cluster)" "401" "the refusal is named: $(reason channel.cluster | head -c 160)"
assert_eq NOT_READY "$(status permissions.cluster)" "its reviews, asked with the same token, too"
for c in $MINE; do
  [[ "$c" == *.cluster || "$(status "$c")" == READY ]] || rb_fail "$c should stay READY: $(reason "$c")"
done
rb_ok "the checks of the other targets stay READY"

# --- the SMTP server down --------------------------------------------------------------------------
write_runbook "$T/smtpdown.yaml" "smtp://127.0.0.1:$CLOSED" "$RB_TEST_PROM_URL" "$RB_TEST_TSIG_KEY_FILE" "$KUBE_FAKE_KUBECONFIG"
prepare "$T/smtpdown.yaml"
only_not_ready channel.mail
assert_contains "$(reason channel.mail)" "unable to connect to mail server 'smtp://127.0.0.1:$CLOSED' of target 'mail'" "the mail server is named"

# --- a wrong TSIG secret: the server's refusal in the words updates get -----------------------------
write_runbook "$T/tsig.yaml" "$SMTP_OK" "$RB_TEST_PROM_URL" "$T/wrong.key" "$KUBE_FAKE_KUBECONFIG"
prepare "$T/tsig.yaml"
only_not_ready channel.dns
assert_contains "$(reason channel.dns)" "$RB_TEST_TSIG_KEY_NAME" "the key is named: $(reason channel.dns | head -c 200)"

# --- Prometheus unreachable ------------------------------------------------------------------------
write_runbook "$T/prom.yaml" "$SMTP_OK" "http://127.0.0.1:$CLOSED" "$RB_TEST_TSIG_KEY_FILE" "$KUBE_FAKE_KUBECONFIG"
prepare "$T/prom.yaml"
only_not_ready channel.metrics
assert_contains "$(reason channel.metrics)" "metrics target 'metrics'" "the target is named"

# --- the Pushgateway down: the same check says so --------------------------------------------------
write_runbook "$T/pgw.yaml" "$SMTP_OK" "$RB_TEST_PROM_URL" "$RB_TEST_TSIG_KEY_FILE" "$KUBE_FAKE_KUBECONFIG" "http://127.0.0.1:$CLOSED"
prepare "$T/pgw.yaml"
only_not_ready channel.metrics
assert_contains "$(reason channel.metrics)" "the pushgateway of metrics target 'metrics'" "the pushgateway is named"

# --- nothing was sent: no mail, no post; the receiver saw only HEADs -------------------------------
assert_eq 0 "$(find "$T/mail" -name '*.eml' | wc -l)" "the SMTP sink holds no mail"
assert_eq 0 "$(find "$T/posts" -name '*.json' | wc -l)" "the webhook receiver holds no post"
assert_eq "HEAD /hooks/rollback" "$(sort -u "$T/posts/heads.log")" "the webhook was looked at with HEAD only"
rb_ok "prepare's permission and channel checks hold"
