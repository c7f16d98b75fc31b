#!/usr/bin/env bash
# test_assess: the assessment against real servers (issue 11, "Signals" and "Decision"): signals
# from PostgreSQL (numeric kept exact), Prometheus (scraping the static exporter of
# scripts/services.d/prometheus.sh: count(integration_up == 0) = 2, and a query with several
# series), a JSON file and --signals; each verdict with its exit code (0, 3, 3, 1); unknown
# signals with their reasons when the database is down; -o json keys; the point of no return in
# red; `plan` shows the assessment; `execute` declined changes nothing (exit 3, no sync in the
# journal, legacy rows unchanged); `execute --force` goes on and the journal says who forced it;
# without a decision section execute has no gate and --severity is still the fact `severity`; a
# stand-in Prometheus sees the query URL-encoded and the bearer token, which is never printed.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg prometheus

T=$(rb_tmpdir)
NEW=$(rb_createdb anew)
LEG=$(rb_createdb aleg)
rb_psql "$NEW" "
  create table signal_values (k text primary key, v numeric);
  insert into signal_values values ('ratio', 0.1000000000000000000001), ('users', 3), ('nothing', null);
  create table employees (id int primary key, full_name text, created_at timestamptz);
  insert into employees values (1, 'Old Hand', '2026-10-01T00:00:00Z'),
                               (2, 'New Hire', '2026-11-02T00:00:00Z'),
                               (3, 'Zoë Neu', '2026-11-03T00:00:00Z');"
rb_psql "$LEG" "
  create table employees (employee_id int primary key, full_name text);
  insert into employees values (1, 'Old Hand');"
legacy_rows() { rb_psql "$LEG" "select string_agg(employee_id || ':' || full_name, ',' order by employee_id) from employees"; }
before=$(legacy_rows)

echo '{"level": 0.30000000000000000000001, "other": 1}' >"$T/file.json"
RB=$T/runbook.yaml
write_runbook() { # CONNINFO_OF_NEW
  cat >"$RB" <<EOF
version: 1
name: assess-test
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  new: { driver: postgres, conninfo: "$1", connect_timeout: 3s }
  legacy: { driver: postgres, conninfo: "$(rb_conninfo "$LEG")" }
  metrics: { driver: prometheus, url: "$RB_TEST_PROM_URL", timeout: 5s }
signals:
  calc_error_ratio: { target: new, sql: "select v from signal_values where k = 'ratio'" }
  affected_users: { target: new, sql: "select v from signal_values where k = 'users'" }
  no_value: { target: new, sql: "select v from signal_values where k = 'nothing'" }
  no_row: { target: new, sql: "select v from signal_values where k = 'absent'" }
  failed_integrations: { target: metrics, query: count(integration_up == 0) }
  every_integration: { target: metrics, query: integration_up }
  file_level: { file: $T/file.json, key: level }
decision:
  matrix:
    - scenario: Critical calculation errors affecting >10% employees
      when: calc_error_ratio > 0.1
      severity: critical
      impact: high
      action: rollback
      recovery_time: 2h-4h
    - scenario: Minor calculation variances <1%
      when: calc_error_ratio > 0 and calc_error_ratio < 0.01
      severity: medium
      impact: low
      action: fix_forward
      recovery_time: n/a
  rollback_if:
    - severity == "critical"
    - affected_users > 100
  point_of_no_return:
    - when: failed_integrations >= 2
      message: bank payment files were already transmitted from the new system
sync:
  from: new
  to: legacy
  tables:
    - name: new_employees
      source: { table: employees, changed_since: created_at }
      target: { table: employees, key: [employee_id] }
      columns: { employee_id: id, full_name: full_name }
EOF
}
write_runbook "$(rb_conninfo "$NEW")"

# --- warranted: exact numeric, Prometheus, the several-series error, the file ------------------
assert_exit 0 "$RB_BIN" -f "$RB" assess
assert_contains "$RB_OUT" "0.1000000000000000000001" "numeric kept exact"
assert_contains "$RB_OUT" "calc_error_ratio > 0.1" "the matrix row is shown"
assert_contains "$RB_OUT" "true  <- matched" "0.1000000000000000000001 > 0.1 is true"
assert_contains "$RB_OUT" "0.30000000000000000000001" "a JSON file's number kept as written"
assert_contains "$RB_OUT" "query 'integration_up' returned 3 series" "several series: an error naming the query"
assert_contains "$RB_OUT" "aggregate it, e.g. with sum()" "and what to do"
assert_contains "$RB_OUT" "POINT OF NO RETURN: bank payment files were already transmitted" "point of no return shown"
assert_contains "$RB_OUT" "verdict: rollback warranted: 'severity == \"critical\"' is true" "the verdict line"
assert_contains "$(tail -n 1 <<<"$RB_OUT")" "verdict: rollback warranted" "the verdict is the last line"

assert_exit 0 "$RB_BIN" -f "$RB" -o json assess
echo "$RB_OUT" >"$T/a.json"
j() { jq -r "$1" "$T/a.json"; }
assert_eq warranted "$(j .verdict)" "json verdict"
assert_eq critical "$(j .severity)" "json severity"
assert_eq "Critical calculation errors affecting >10% employees" "$(j .scenario)" "json scenario"
assert_eq "high|rollback|2h-4h" "$(j '.impact + "|" + .action + "|" + .recovery_time')" "json impact, action, recovery_time"
assert_eq "0.1000000000000000000001" "$(j .signals.calc_error_ratio)" "json: the numeric as text"
assert_eq 2 "$(j .signals.failed_integrations)" "count(integration_up == 0) = 2 from Prometheus"
assert_eq null "$(j .signals.every_integration)" "several series: null, never 0"
assert_contains "$(j .unknown.every_integration)" "aggregate it" "json: the reason in unknown"
assert_eq "NULL|no row" "$(j '.unknown.no_value + "|" + .unknown.no_row')" "NULL and no row are unknown"
assert_eq "sql on 'new'|prometheus 'metrics'|file $T/file.json" \
  "$(j '.sources.calc_error_ratio + "|" + .sources.failed_integrations + "|" + .sources.file_level')" "sources"
assert_eq "true,false" "$(j '[.matrix[].value] | map(tostring) | join(",")')" "json matrix values"
assert_eq 'severity == "critical"=true,affected_users > 100=false' \
  "$(j '[.rollback_if[] | .expr + "=" + (.value | tostring)] | join(",")')" "json rollback_if"
assert_eq "true" "$(j '.point_of_no_return[0].value')" "json point_of_no_return"
assert_eq 14400000 "$(j .budget_ms)" "budget: recovery_time 2h-4h -> 4h"

# the point of no return in red on a terminal
if command -v script >/dev/null; then
  script -qec "'$RB_BIN' -f '$RB' assess" /dev/null >"$T/tty" 2>&1 || true
  assert_contains "$(cat "$T/tty")" $'\033[31mPOINT OF NO RETURN' "the point of no return in red"
fi

# --- not warranted (exit 3), --signals overrides and adds -----------------------------------------
echo '{"calc_error_ratio": 0.005, "next_payroll_hours": 100, "extra": "x"}' >"$T/low.json"
assert_exit 3 "$RB_BIN" -f "$RB" -o json assess --signals "$T/low.json"
echo "$RB_OUT" >"$T/a.json"
assert_eq not_warranted "$(j .verdict)" "not warranted"
assert_eq "medium|Minor calculation variances <1%" "$(j '.severity + "|" + .scenario')" "the second row matched"
assert_eq "0.005|--signals $T/low.json" "$(j '.signals.calc_error_ratio + "|" + .sources.calc_error_ratio')" "--signals overrides"
assert_eq "x" "$(j .signals.extra)" "--signals adds"
assert_eq 360000000 "$(j .budget_ms)" "recovery_time n/a: next_payroll_hours (100h) is the budget"
assert_contains "$RB_ERR" "rollback not warranted: no rollback_if rule is true (severity medium" "why, on stderr"

# --- a --signals file is one JSON object: text after it is refused, its byte named (exit 2) ------
printf '{"calc_error_ratio": 0.005} {"calc_error_ratio": 0.9}\n' >"$T/two.json"
assert_exit 2 "$RB_BIN" -f "$RB" assess --signals "$T/two.json"
assert_contains "$RB_ERR" "--signals file '$T/two.json' is not valid JSON (at byte 28)" "trailing text named"

# --- --severity decides the severity; the rows are still shown --------------------------------
assert_exit 0 "$RB_BIN" -f "$RB" -o json assess --severity critical --signals "$T/low.json"
assert_eq "warranted|critical|--severity" "$(jq -r '.verdict + "|" + .severity + "|" + .severity_from' <<<"$RB_OUT")" "--severity"
assert_eq "false,true" "$(jq -r '[.matrix[].value] | map(tostring) | join(",")' <<<"$RB_OUT")" "rows still evaluated"

# --- undetermined (exit 3): a rule reads an unknown signal ---------------------------------------
echo '{"calc_error_ratio": null}' >"$T/unknown.json"
assert_exit 3 "$RB_BIN" -f "$RB" -o json assess --signals "$T/unknown.json"
assert_eq "undetermined|null" "$(jq -r '.verdict + "|" + (.severity | tostring)' <<<"$RB_OUT")" "undetermined, no severity"
assert_eq "null,false" "$(jq -r '[.rollback_if[].value] | map(tostring) | join(",")' <<<"$RB_OUT")" "unknown rule is null"

# --- the database down: unknown with the reason, no crash, undetermined ------------------------
dead_port=$( (/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])') )
cp "$RB" "$T/good.yaml"
write_runbook "host=127.0.0.1 port=$dead_port user=$RB_TEST_PGUSER dbname=$NEW"
assert_exit 3 "$RB_BIN" -f "$RB" -o json assess
assert_eq undetermined "$(jq -r .verdict <<<"$RB_OUT")" "db down: undetermined"
assert_eq null "$(jq -r .signals.calc_error_ratio <<<"$RB_OUT")" "db down: the signal is null"
assert_contains "$(jq -r .unknown.calc_error_ratio <<<"$RB_OUT")" "new" "db down: the reason names the target"
assert_eq 2 "$(jq -r .signals.failed_integrations <<<"$RB_OUT")" "the other signals are still read"
cp "$T/good.yaml" "$RB"

# --- no decision section: exit 1 --------------------------------------------------------------
sed '/^decision:/,/^sync:/{/^sync:/!d}' "$RB" >"$T/nodecision.yaml"
assert_exit 1 "$RB_BIN" -f "$T/nodecision.yaml" assess
assert_contains "$RB_ERR" "runbook 'assess-test' has no decision section" "no decision section"

# --- plan shows the assessment ----------------------------------------------------------------
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_OUT" "assess/verdict" "plan: the assess action"
assert_contains "$RB_OUT" "verdict: rollback warranted" "plan: the verdict"
assert_contains "$RB_OUT" "0.1000000000000000000001" "plan: the signals"
assert_exit 0 "$RB_BIN" -f "$RB" plan --signals "$T/low.json"
assert_contains "$RB_OUT" "execute would stop here (exit 3) unless --force" "plan says execute would decline"
assert_exit 0 "$RB_BIN" -f "$RB" plan --offline
assert_contains "$RB_OUT" "not read (--offline)" "plan --offline reads no signal"
assert_eq "$before" "$(legacy_rows)" "plan changed nothing"

# --- execute declined: exit 3, nothing changed -------------------------------------------------
assert_exit 3 "$RB_BIN" -f "$RB" execute --reason "assess test" --yes --signals "$T/low.json"
assert_contains "$RB_OUT" "declined" "the run is declined"
assert_contains "$RB_ERR" "use --force to roll back anyway" "the hint"
journal=$(printf "%s\n" "$T"/state/runs/*/journal.jsonl | sort | tail -n 1)
assert_eq "" "$(grep '"action":"sync/' "$journal" || true)" "no sync action in the journal"
assert_eq "$before" "$(legacy_rows)" "legacy rows unchanged"
assert_eq "failed" "$(jq -r 'select(.action == "assess/verdict" and .event == "failed") | .event' "$journal")" "assess/verdict journaled failed"
assert_eq "not_warranted" "$(jq -r 'select(.action == "assess/verdict" and .event == "failed") | .data.result.verdict' "$journal")" "the whole assessment journaled"
assert_eq '"medium"' "$(jq -c 'select(.event == "fact" and .data.key == "severity") | .data.value' "$journal")" "fact severity"
assert_eq declined "$(jq -r 'select(.event == "run_finished") | .data.outcome' "$journal")" "run_finished declined"
assert_exit 0 "$RB_BIN" -f "$RB" status
assert_contains "$RB_OUT" "declined" "status: declined"
assert_contains "$RB_OUT" "phases:       assess declined" "status: the phase a declined run stopped in is declined, not still started"
assert_contains "$RB_OUT" "rollback not warranted: no rollback_if rule is true" "status says why"
assert_contains "$RB_OUT" "budget:       4d4h, deadline" "status: the budget (100h)"

# --- execute --force: goes on, forced by whom and why -------------------------------------------
# The point of no return is true (two integrations down), so the forced run waits for one
# approval more than the initiator's: a second person gives it.
"$RB_BIN" -f "$RB" execute --reason "forced test" --yes --force --signals "$T/low.json" \
  >"$T/forced.out" 2>"$T/forced.err" &
forced_pid=$!
n=0
until "$RB_BIN" -f "$RB" -o json status 2>/dev/null | jq -e '.waiting != null' >/dev/null; do
  sleep 0.05
  n=$((n + 1))
  ((n < 600)) || { kill "$forced_pid"; rb_fail "the forced run never waited: $(cat "$T/forced.err")"; }
done
assert_exit 0 env SUDO_USER=rbassessapprover "$RB_BIN" -f "$RB" approve \
  "$("$RB_BIN" -f "$RB" -o json status | jq -r .run_id)" --comment "forced on purpose"
wait "$forced_pid" || rb_fail "the forced run failed: $(cat "$T/forced.err")"
assert_contains "$(cat "$T/forced.err")" "going on because of --force" "a warning"
journal=$(printf "%s\n" "$T"/state/runs/*/journal.jsonl | sort | tail -n 1)
done_line() { jq -c 'select(.action == "assess/verdict" and .event == "done") | .data' "$journal"; }
assert_eq "true|forced test|not_warranted" "$(done_line | jq -r '(.forced | tostring) + "|" + .reason + "|" + .verdict')" "journal: forced, reason"
assert_contains "$(done_line | jq -r .forced_by)" "@" "journal: forced_by user@host"
assert_eq "1:Old Hand,2:New Hire,3:Zoë Neu" "$(legacy_rows)" "the sync ran after the forced assessment"
assert_exit 0 "$RB_BIN" -f "$RB" -o json status
assert_eq 360000000 "$(jq -r .budget.budget_ms <<<"$RB_OUT")" "status -o json: budget_ms"
assert_eq true "$(jq -r '.budget.left_ms > 0 and (.budget.deadline | test("Z$"))' <<<"$RB_OUT")" "status -o json: deadline, left_ms"

# --- no decision section in execute: no assessment gate; --severity still becomes the fact ------
assert_exit 0 "$RB_BIN" -f "$T/nodecision.yaml" execute --reason "no gate" --yes --severity high
journal=$(printf "%s\n" "$T"/state/runs/*/journal.jsonl | sort | tail -n 1)
assert_eq "" "$(grep '"action":"assess/' "$journal" || true)" "no decision section: nothing planned in assess"
assert_eq '"high"' "$(jq -c 'select(.event == "fact" and .data.key == "severity") | .data.value' "$journal")" \
  "no decision section: the fact severity from --severity"

# --- the query as Prometheus receives it: URL-encoded, with the bearer token, never shown --------
cat >"$T/fakeprom.py" <<'PY'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[2], "a") as f:
            f.write(self.path + "\n" + str(self.headers.get("Authorization")) + "\n")
        body = json.dumps({"status": "success", "data": {"resultType": "scalar", "result": [1, "7"]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
/usr/bin/python3 "$T/fakeprom.py" "$T/fakeprom.port" "$T/fakeprom.log" &
fake_pid=$!
rb_on_exit kill "$fake_pid"
for _ in $(seq 50); do [[ -s "$T/fakeprom.port" ]] && break; sleep 0.1; done
cat >"$T/token.yaml" <<EOF
version: 1
name: token-test
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state-token
targets:
  metrics: { driver: prometheus, url: "http://127.0.0.1:$(<"$T/fakeprom.port")/", bearer_token_env: PROM_TOKEN, timeout: 5s }
signals:
  failed: { target: metrics, query: 'count(integration_up{name!="tax"} == 0)' }
decision:
  rollback_if: [ failed > 5 ]
EOF
PROM_TOKEN=s3cret-token assert_exit 0 "$RB_BIN" -f "$T/token.yaml" -o json assess
assert_eq 7 "$(jq -r .signals.failed <<<"$RB_OUT")" "a scalar answer is its value"
assert_eq "/api/v1/query?query=count%28integration_up%7Bname%21%3D%22tax%22%7D%20%3D%3D%200%29" \
  "$(sed -n 1p "$T/fakeprom.log")" "the query URL-encoded"
assert_eq "Bearer s3cret-token" "$(sed -n 2p "$T/fakeprom.log")" "the bearer token in the Authorization header"
assert_not_contains "$RB_OUT$RB_ERR" "s3cret" "the token is never printed"
assert_exit 3 "$RB_BIN" -f "$T/token.yaml" assess
assert_contains "$RB_OUT" "bearer_token_env of target 'metrics'" "an unset token variable: unknown, with the reason"
