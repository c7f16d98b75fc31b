#!/usr/bin/env bash
# The sql, http and run checks of `verify:` (through probe.h): each passes and fails for the right
# reason, a retry waits out a late service, the report says what was observed, and `plan` shows
# every check with its queries without running any.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg

T=$(rb_tmpdir)
DB=$(rb_createdb vprobe)
rb_psql "$DB" "create table system_config (key text primary key, value text); insert into system_config values ('system_mode', 'ACTIVE')"

# a loopback HTTP server: /health answers 200, anything else 404
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/www" && echo ok >"$T/www/health"
/usr/bin/python3 -m http.server "$port" --bind 127.0.0.1 --directory "$T/www" >/dev/null 2>&1 &
rb_on_exit kill $!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done

RB=$T/runbook.yaml
cat >"$RB" <<YAML
version: 1
name: verify-probes
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "$(rb_conninfo "$DB")" }
verify:
  - name: Mode active
    target: legacy
    sql: "select value = 'ACTIVE' from system_config where key = 'system_mode'"
  - name: Health
    http: http://127.0.0.1:$port/health
  - name: Login page
    http: http://127.0.0.1:$port/login
    expect_status: 404
  - name: GL interface
    run: [test, -f, $T/gl-ok]
  - name: Late file
    run: [sh, -c, "n=\$(cat $T/late-tries 2>/dev/null || echo 0); echo \$((n + 1)) > $T/late-tries; [ \$n -ge 2 ]"]
    retry: { attempts: 30, interval: 100ms }
YAML

assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_OUT" "verify/mode-active"
assert_contains "$RB_OUT" "select value = 'ACTIVE' from system_config"
assert_contains "$RB_OUT" "verify/report"

# the late check passes on its third attempt: retried, whatever the machine's speed
rm -f "$T/late-tries"
assert_exit 1 "$RB_BIN" -f "$RB" -o json verify
J=$RB_OUT_FILE
assert_eq "GL interface" "$(jq -r '[.checks[] | select(.passed | not) | .name] | join(",")' "$J")" "only the run check failed"
assert_contains "$(jq -r '.checks[] | select(.name == "GL interface") | .summary' "$J")" "exited with status 1"
assert_eq 3 "$(jq '.checks[] | select(.name == "Late file") | .attempts' "$J")" "retried until it passed, on the third attempt"
assert_contains "$(jq -r '.checks[] | select(.name == "Health") | .summary' "$J")" "answered 200"

touch "$T/gl-ok"
rb_psql "$DB" "update system_config set value = 'MAINTENANCE'"
assert_exit 1 "$RB_BIN" -f "$RB" verify
assert_contains "$RB_OUT" "FAIL  Mode active [sql"
assert_contains "$RB_OUT" "PASS  GL interface [run"
rb_psql "$DB" "update system_config set value = 'ACTIVE'"
assert_exit 0 "$RB_BIN" -f "$RB" verify
assert_contains "$RB_OUT" "verification passed: 5 of 5 checks passed"
