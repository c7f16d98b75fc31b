#!/usr/bin/env bash
# The PostgreSQL adapter's promises (issue 2 "PostgreSQL adapter basics"), seen through the CLI:
#  - plan's sessions are read-only: a `where:` that would write is refused by the server;
#  - a server that accepts but never answers fails the connection at the target's connect_timeout;
#  - password_env: a missing variable is a clear error naming it; the secret itself never shows in
#    output or journal;
#  - session settings are pinned whatever PG* variables the environment sets (see also
#    test_sync_nasty.sh for time zone and date style on real data).
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/integration/sync/common.sh"
sync_setup

# --- read-only plan sessions ------------------------------------------------------------------------
rb_psql "$NEW" "create table touched (at timestamptz);
  create function touch() returns boolean language sql as \$\$ insert into touched values (now()) returning true \$\$"
sed -i 's/        where: status = .completed./        where: touch()/' "$RB"
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_OUT$RB_ERR" "cannot execute INSERT in a read-only transaction" "plan's session refuses writes"
assert_eq 0 "$(rb_psql "$NEW" "select count(*) from touched")" "plan wrote nothing"
sync_runbook "$SF/runbook.yaml.in"

# --- connect deadline ---------------------------------------------------------------------------------
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/python3 - "$port" <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
conns = []
end = time.time() + 60
while time.time() < end:
    s.settimeout(1)
    try:
        conns.append(s.accept()[0])   # accept, then say nothing
    except socket.timeout:
        pass
PY
silent=$!
rb_on_exit kill "$silent"
for _ in $(seq 100); do
  /usr/bin/python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" 2>/dev/null && break
  sleep 0.1
done
# the deadline's sources as psql has them: the conninfo's connect_timeout, then PGCONNECT_TIMEOUT,
# then the runbook's connect_timeout (issue 16); the message names the one that applied
unset PGCONNECT_TIMEOUT
sed -i "s|    conninfo: \"$(rb_conninfo "$LEG")\"|    conninfo: \"host=127.0.0.1 port=$port dbname=legacy connect_timeout=2\"\n    connect_timeout: 30s|" "$RB"
assert_contains "$(cat "$RB")" "connect_timeout: 30s"
assert_exit 1 env PGCONNECT_TIMEOUT=40 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_ERR" "unable to connect to 'legacy': no answer within 2000 ms (connect_timeout=2 in the conninfo)" \
  "plan: the conninfo's connect_timeout wins over PGCONNECT_TIMEOUT and the runbook's"
sed -i "s| connect_timeout=2\"|\"|; s|    connect_timeout: 30s|    connect_timeout: 1s|" "$RB"
assert_contains "$(cat "$RB")" "connect_timeout: 1s"
# The message proves the deadline ended the wait (no timing here: performance lives in bench/):
# without it plan would hang until the silent server exits after 60 s and closes the socket,
# which reads as a lost connection, not "no answer within".
assert_exit 1 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_ERR" "unable to connect to 'legacy': no answer within 1000 ms (connect_timeout: 1s in the runbook)" "plan: connection deadline"
assert_contains "$RB_ERR" "plan could not read target 'legacy'" "plan: fails naming the target it could not read"
# execute: the pre-flight meets the deadline before anything changes
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "silent legacy" --yes
assert_contains "$RB_OUT$RB_ERR" "pre-flight: FAILED database 'legacy': unable to connect to 'legacy': no answer within 1000 ms" \
  "execute: the connection deadline, in the pre-flight"
assert_eq 0 "$(rb_psql "$LEG" "select count(*) from payroll_history where payment_id > 2000")" "nothing applied"
sync_runbook "$SF/runbook.yaml.in"

# --- password_env ------------------------------------------------------------------------------------
sed -i "s|    conninfo: \"$(rb_conninfo "$LEG")\"|&\n    password_env: RB_TEST_LEGACY_PW|" "$RB"
assert_contains "$(cat "$RB")" "password_env: RB_TEST_LEGACY_PW"
unset RB_TEST_LEGACY_PW
# the runbook is fine, the environment is not: exit 1 naming the variable (issue 16), not 5;
# validate only warns (the runbook may be checked away from the host that has the secret)
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "no password" --yes
assert_contains "$RB_ERR" "error: environment variable 'RB_TEST_LEGACY_PW' (password_env of target 'legacy') is not set" \
  "execute: the missing password variable named"
assert_not_contains "$RB_ERR" "is invalid" "execute: the runbook is not called invalid"
assert_exit 1 "$RB_BIN" -f "$RB" verify
assert_contains "$RB_ERR" "environment variable 'RB_TEST_LEGACY_PW' (password_env of target 'legacy') is not set" \
  "verify: the missing password variable named"
assert_exit 0 "$RB_BIN" -f "$RB" validate
assert_contains "$RB_ERR" "warning: environment variable 'RB_TEST_LEGACY_PW'" "validate: a warning"
assert_exit 5 "$RB_BIN" -f "$RB" validate --strict
assert_eq 0 "$(rb_psql "$LEG" "select count(*) from payroll_history where payment_id > 2000")" "nothing applied without the password"
export RB_TEST_LEGACY_PW='s3cr3t-Pa55w0rd-xyzzy'
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_exit 0 "$RB_BIN" -f "$RB" -v execute --reason "with password" --yes
all_output="$RB_OUT$RB_ERR$(cat "$T"/state/runs/*/journal.jsonl)$("$RB_BIN" -f "$RB" -o json status)"
assert_not_contains "$all_output" "$RB_TEST_LEGACY_PW" "the secret appears in no output and no journal"
assert_eq 900 "$(rb_psql "$LEG" "select count(*) from payroll_history where payment_id > 2000")" "synced with the password target"

# --- session settings: the application name, and the environment cannot change the text forms ----------
assert_eq 0 "$(rb_psql "$LEG" "select count(*) from rollbackctl_ledger where checksum = ''")" "checksums recorded"
rb_psql "$LEG" "delete from rollbackctl_ledger"
PGTZ=Asia/Tokyo PGDATESTYLE="Postgres, DMY" PGOPTIONS="-c extra_float_digits=-3" \
  assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "odd environment" --yes
assert_contains "$RB_OUT" "900 at risk: 0 inserted, 0 updated, 900 unchanged" "same text forms, nothing seen as changed"
