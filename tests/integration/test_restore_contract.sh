#!/usr/bin/env bash
# The restore steps of the runbook contract, through `rollbackctl execute`, against local stand-ins:
#   Start database            a PostgreSQL database that refuses connections until "started"
#                             (ALTER DATABASE ... ALLOW_CONNECTIONS), verify `select true`
#   Start application server  a script that starts a python3 HTTP health endpoint in the background
#                             (it takes a second to listen), verify http 200 with retry
#   Enable scheduled jobs     sql, no verify: rows affected journaled
#   Update system mode        sql + sql verify
#   Point payroll DNS         rfc2136 against BIND
#   Start legacy workers      scale legacy-payroll-worker 0 -> 2 on the Kubernetes API stand-in
# Then: each step's effect is there (table rows, HTTP answer, DNS record, processes); a rerun skips
# every verified step and harms nothing; a failing step stops the run naming the step and line,
# leaves later steps undone, and `resume` continues at that step without redoing earlier ones.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/fakes/kube_fake.sh"
rb_require pg bind
command -v dig >/dev/null || rb_fail "dig not found (bind9-dnsutils: scripts/install-deps)"

T=$(rb_tmpdir)
DB=$(rb_createdb legacy)
rb_kube_fake "$T/kube"
workers() { kube_fake_state "$T/kube" '.objects["apps/v1/deployments"].payroll["legacy-payroll-worker"].spec.replicas'; }
PSQL="$RB_TEST_PGBIN/psql"
HOST=${RB_TEST_DNS_SERVER%:*}
DNSPORT=${RB_TEST_DNS_SERVER##*:}
ZONE=$RB_TEST_DNS_ZONE
NAME="payroll-$$-$RANDOM.${ZONE}"
SECRET=$(sed -n 's/.*secret "\(.*\)".*/\1/p' "$RB_TEST_TSIG_KEY_FILE")
APP_PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# ---- the legacy world, stopped ------------------------------------------------------------------
rb_psql "$DB" - <<'SQL'
create table scheduled_jobs (job_name text primary key, job_type text not null, enabled int not null);
insert into scheduled_jobs values ('payroll-run', 'PAYROLL', 0), ('payroll-export', 'PAYROLL', 0),
                                  ('gl-sync', 'GL', 0);
create table system_config (key text primary key, value text not null);
insert into system_config values ('system_mode', 'READONLY'), ('company', 'ACME');
SQL
rb_psql postgres "alter database \"$DB\" with allow_connections false"

dns_set() { # VALUE: the record as the new system left it, set with BIND's own client
  PATH=$PATH:/usr/sbin nsupdate -y "hmac-sha256:$RB_TEST_TSIG_KEY_NAME:$SECRET" <<EOF
server $HOST $DNSPORT
zone $ZONE
update delete $NAME CNAME
$( [[ -n "$1" ]] && echo "update add $NAME 300 CNAME $1" )
send
EOF
}
dns_set "new-app.$ZONE"
rb_on_exit dns_set ""
dig_cname() { dig +norec +short -p "$DNSPORT" "@$HOST" "$NAME" CNAME; }

cat >"$T/start-db.sh" <<EOF
#!/usr/bin/env bash
# stand-in for 'systemctl start legacy-db'
echo start-db >>"$T/log"
"$PSQL" -XAtq -h "$RB_TEST_PGHOST" -p "$RB_TEST_PGPORT" -U "$RB_TEST_PGUSER" -d postgres \
  -c 'alter database "$DB" with allow_connections true'
echo "legacy-db started"
EOF

cat >"$T/health.py" <<'EOF'
# the legacy application's health endpoint; takes a second before it listens, like a real app
import http.server, os, sys, time
port, pidfile = int(sys.argv[1]), sys.argv[2]
with open(pidfile, "w") as f:
    f.write(str(os.getpid()))
time.sleep(1)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/health"
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b"ok\n" if ok else b"no\n")
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
EOF

cat >"$T/start-app.sh" <<EOF
#!/usr/bin/env bash
# stand-in for 'systemctl start payroll-app': starts the app in the background and returns
echo start-app >>"$T/log"
if [[ -e "$T/broken" ]]; then
  echo "payroll-app: cannot bind 127.0.0.1:$APP_PORT: address in use" >&2
  exit 3
fi
setsid /usr/bin/python3 "$T/health.py" "$APP_PORT" "$T/app.pid" </dev/null >>"$T/app.log" 2>&1 &
echo "payroll-app starting"
EOF

chmod +x "$T"/*.sh

stop_all() {
  local f
  for f in "$T"/app.pid; do
    [[ -e "$f" ]] && kill "$(cat "$f")" 2>/dev/null
  done
  return 0
}
rb_on_exit stop_all

cat >"$T/runbook.yaml" <<YAML
$(rb_runbook_header restore-contract "$T/state")
  legacy:
    driver: postgres
    conninfo: "$(rb_conninfo "$DB") connect_timeout=5"
  cluster:
    driver: kubernetes
    kubeconfig: $KUBE_FAKE_KUBECONFIG
    namespace: payroll
  dns:
    driver: rfc2136
    server: "$RB_TEST_DNS_SERVER"
    zone: $ZONE
    tsig_key_file: $RB_TEST_TSIG_KEY_FILE
restore:
  - name: Start database
    run: [$T/start-db.sh]
    timeout: 2m
    verify: { target: legacy, sql: select true }
  - name: Start application server
    run: [$T/start-app.sh]
    verify:
      http: http://127.0.0.1:$APP_PORT/health
      expect_status: 200
      retry: { attempts: 20, interval: 250ms }
  - name: Enable scheduled jobs
    sql: { target: legacy, statement: "update scheduled_jobs set enabled = 1 where job_type = 'PAYROLL'" }
  - name: Update system mode
    sql: { target: legacy, statement: "update system_config set value = 'ACTIVE' where key = 'system_mode'" }
    verify: { target: legacy, sql: "select value = 'ACTIVE' from system_config where key = 'system_mode'" }
  - name: Point payroll DNS at legacy
    dns: { target: dns, name: $NAME, type: CNAME, data: legacy-app.$ZONE, ttl: 60 }
  - name: Start legacy workers
    scale: { target: cluster, deployment: legacy-payroll-worker, replicas: 2 }
YAML
RB="$RB_BIN -f $T/runbook.yaml"
app_health() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$APP_PORT/health" || true; }
jobs_state() { rb_psql "$DB" "select string_agg(job_name || '=' || enabled, ',' order by job_name) from scheduled_jobs"; }

# ---- plan: every step with its exact argv, SQL, DNS change and verify; nothing changes ----------
assert_exit 0 $RB plan
assert_contains "$RB_OUT" "run: $T/start-db.sh"
assert_contains "$RB_OUT" "verify: sql on 'legacy' returns true: select true"
assert_contains "$RB_OUT" "verify: http GET http://127.0.0.1:$APP_PORT/health answers 200 (up to 20 attempts, 250ms apart)"
assert_contains "$RB_OUT" "sql on 'legacy', in its own transaction: update scheduled_jobs set enabled = 1 where job_type = 'PAYROLL'"
assert_contains "$RB_OUT" "new-app.$ZONE (ttl 300) -> legacy-app.$ZONE (ttl 60)"
assert_contains "$RB_OUT" "scale deployment 'legacy-payroll-worker' in namespace 'payroll' via 'cluster': 0 -> 2 replicas"
assert_eq "" "$(cat "$T/log" 2>/dev/null)" "plan ran no command"

# ---- 1. a failing step stops the run; later steps stay undone -----------------------------------
touch "$T/broken"
assert_exit 1 $RB execute --reason "restore test" --yes
assert_contains "$RB_ERR" "runbook.yaml:23: restore/start-application-server: restore step 'Start application server' failed"
assert_contains "$RB_ERR" "exited with status 3: payroll-app: cannot bind"
assert_eq "start-db start-app" "$(paste -sd' ' "$T/log")" "stopped at the failing step"
assert_eq "t" "$(rb_psql "$DB" 'select true')" "after step 1: the database accepts connections"
assert_eq "gl-sync=0,payroll-export=0,payroll-run=0" "$(jobs_state)" "after the failure: scheduled jobs untouched"
assert_eq "READONLY" "$(rb_psql "$DB" "select value from system_config where key = 'system_mode'")" "system mode untouched"
assert_eq "new-app.$ZONE" "$(dig_cname)" "DNS untouched"
assert_eq "0" "$(workers)" "workers untouched"
journal=$(cat "$T"/state/runs/*/journal.jsonl)
assert_contains "$journal" '"stderr_tail":"payroll-app: cannot bind' "the failing command's stderr is journaled"

# ---- 2. resume starts at the failed step and finishes ------------------------------------------
rm -f "$T/broken"
assert_exit 0 $RB resume
assert_eq "start-db start-app start-app" "$(paste -sd' ' "$T/log")" "resume did not redo step 1"
assert_eq "200" "$(app_health)" "after step 2: the app answers its health check"
assert_eq "gl-sync=0,payroll-export=1,payroll-run=1" "$(jobs_state)" "after step 3: PAYROLL jobs enabled, others not"
assert_eq "ACTIVE" "$(rb_psql "$DB" "select value from system_config where key = 'system_mode'")" "after step 4: system mode ACTIVE"
assert_eq "legacy-app.$ZONE" "$(dig_cname)" "after step 5: DNS points at legacy"
assert_eq "2" "$(workers)" "after step 6: legacy workers scaled to 2"
assert_contains "$RB_OUT" "2 rows affected"
assert_contains "$RB_OUT" "verified: http://127.0.0.1:$APP_PORT/health answered 200"
journal=$(cat "$T"/state/runs/*/journal.jsonl)
assert_contains "$journal" '"rows_affected":2' "rows affected journaled"

# ---- 3. a second execute does no harm: verified steps are skipped -------------------------------
app_pid=$(cat "$T/app.pid")
assert_exit 0 $RB execute --reason "restore test, again" --yes
assert_eq "start-db start-app start-app" "$(paste -sd' ' "$T/log")" "no start command ran again"
assert_contains "$RB_OUT" "already done (verify returned true), not applied again"
assert_contains "$RB_OUT" "already done (verify http://127.0.0.1:$APP_PORT/health answered 200)"
assert_eq "$app_pid" "$(cat "$T/app.pid")" "the app was not started twice"
assert_eq "gl-sync=0,payroll-export=1,payroll-run=1" "$(jobs_state)" "jobs unchanged"
assert_eq "ACTIVE" "$(rb_psql "$DB" "select value from system_config where key = 'system_mode'")" "mode unchanged"
assert_eq "legacy-app.$ZONE" "$(dig_cname)" "DNS unchanged"
assert_eq "2" "$(workers)" "workers unchanged"
assert_contains "$RB_OUT" "'legacy-payroll-worker' already at 2 replicas"

# ---- 4. a verify that never passes fails the step after its retries, naming it ------------------
cat >"$T/never.yaml" <<YAML
$(rb_runbook_header restore-never "$T/state-never")
  legacy: { driver: postgres, conninfo: "$(rb_conninfo "$DB")" }
restore:
  - name: Set mode
    sql: { target: legacy, statement: "update system_config set value = 'MAINT' where key = 'company'" }
    verify:
      target: legacy
      sql: "select value = 'ACTIVE' from system_config where key = 'nothing'"
      retry: { attempts: 3, interval: 100ms }
  - name: Never reached
    run: [touch, $T/never-reached]
YAML
assert_exit 1 "$RB_BIN" -f "$T/never.yaml" execute --reason "verify fails" --yes
assert_contains "$RB_ERR" "never.yaml:8: restore/set-mode: restore step 'Set mode' did its work but its verify did not pass after 3 attempts: query returned no rows"
[[ ! -e "$T/never-reached" ]] && rb_ok "the next step did not run" || rb_fail "the next step ran"

# ---- 5. a failing statement is rolled back and named -------------------------------------------
cat >"$T/badsql.yaml" <<YAML
$(rb_runbook_header restore-badsql "$T/state-badsql")
  legacy: { driver: postgres, conninfo: "$(rb_conninfo "$DB")" }
restore:
  - name: Two statements, the second fails
    sql: { target: legacy, statement: "update system_config set value = 'X' where key = 'company'; select 1/0" }
YAML
assert_exit 1 "$RB_BIN" -f "$T/badsql.yaml" execute --reason "bad sql" --yes
assert_contains "$RB_ERR" "division by zero"
assert_eq "MAINT" "$(rb_psql "$DB" "select value from system_config where key = 'company'")" "the failed step's transaction was rolled back (value left by the step before)"
