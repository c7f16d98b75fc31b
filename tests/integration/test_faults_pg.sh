#!/usr/bin/env bash
# PostgreSQL faults on the legacy side (issue 15 "Faults"), against a private PostgreSQL this test
# starts (initdb in a temp folder, a free port) so that it can restart it without touching the
# servers other tests share; the new side is the shared server. Each fault is struck when
# pg_stat_activity shows the statement running (a poll, never a sleep), and each run must end
# with the same legacy rows (md5 of the ordered text) and one ledger row as an undisturbed sync:
#  - the legacy server restarted mid-COPY: the table is retried and lands exactly once;
#  - the source's COPY backend terminated (pg_terminate_backend): the same;
#  - the target's apply step terminated (the plain INSERT: no key in legacy yet; a trigger holds
#    it at one row): the same;
#    (test_sync_faults terminates the target's COPY;)
#  - the legacy server restarted, and the sessions terminated, while rollbackctl's connection to
#    it sat idle between two restore `sql` steps: the next step reconnects instead of failing on
#    the dead session it had cached;
#  - the connection lost during the COMMIT of a restore `sql` step (a deferred trigger holds the
#    COMMIT): the outcome is unknown, so it is journaled failed with outcome_unknown, and resume
#    treats the step as in flight: without a verify it refuses to apply it twice, with one (the
#    documented answer) it checks first and applies it once.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/integration/sync/common.sh"
rb_require pg
PGBIN=$RB_TEST_PGBIN

# --- the private legacy server -------------------------------------------------------------------
T=$(rb_tmpdir)
PG_ROOT=$(mktemp -d /tmp/rb-pgfaults.XXXXXX)
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[[ $(id -u) == 0 ]] && chown postgres: "$PG_ROOT"
PG_PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$PGBIN/initdb" -D "$PG_ROOT/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
  --no-instructions >"$T/initdb.log" 2>&1 || rb_fail "initdb failed: $(tail -5 "$T/initdb.log")"
as_pg tee -a "$PG_ROOT/data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_ROOT'
fsync = off
EOF
# (the server must not inherit the lock holders' fifos, fds 7 and 8: they would never see EOF)
pg_priv() { as_pg "$PGBIN/pg_ctl" "$@" -D "$PG_ROOT/data" -l "$PG_ROOT/log" -w -t 60 >/dev/null 7>&- 8>&-; }
stop_priv() { pg_priv stop -m immediate; rm -rf "$PG_ROOT"; }
pg_priv start || rb_fail "the private PostgreSQL did not start: $(tail -5 "$PG_ROOT/log")"
rb_on_exit stop_priv
lpsql() { # SQL: psql on the private server's legacy database
  PGCONNECT_TIMEOUT=10 "$PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 -h "$PG_ROOT" -p "$PG_PORT" -U postgres -d legacy -c "$1"
}
PGCONNECT_TIMEOUT=10 "$PGBIN/psql" -XAtq -h "$PG_ROOT" -p "$PG_PORT" -U postgres -d postgres -c "create database legacy"
"$PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 -h "$PG_ROOT" -p "$PG_PORT" -U postgres -d legacy -f "$SF/legacy.sql" >/dev/null

NEW=$(rb_createdb fnew)
rb_psql "$NEW" - <"$SF/new.sql" >/dev/null
RB=$T/runbook.yaml
sed -e "s|@STATE@|$T/state|" -e "s|@NEW@|$(rb_conninfo "$NEW")|" \
  -e "s|@LEGACY@|host=127.0.0.1 port=$PG_PORT user=postgres dbname=legacy connect_timeout=5|" \
  "$SF/runbook.yaml.in" >"$RB"
# Payments only; at payment 2601 the source waits for an advisory lock the test holds (hold_at):
# the COPY is then under way on both sides until the test has struck and lets it go.
rb_psql "$NEW" "create function hold_at(id bigint) returns int language plpgsql as \$\$
                begin if id = 2601 then perform pg_advisory_lock_shared(4242); perform pg_advisory_unlock_shared(4242);
                end if; return 0; end \$\$" >/dev/null
sed -i -e '/- name: new_employees/,/- name: processed_payments/{/- name: processed_payments/!d}' \
  -e '/- name: tax_changes/,$d' \
  -e 's/net_pay: net_amount/net_pay: "net_amount + hold_at(id)"/' "$RB"
assert_exit 0 "$RB_BIN" -f "$RB" validate

legacy_md5() { lpsql "select md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) from payroll_history t"; }
before=$(legacy_md5)
expected=$(table_md5 "$NEW" "select id, employee_id, pay_date, gross_amount, net_amount, federal_tax from employee_payments
                             where status = 'completed'")
reset_legacy() {
  lpsql "delete from payroll_history where payment_id > 2000; delete from rollbackctl_ledger" >/dev/null 2>&1 ||
    lpsql "delete from payroll_history where payment_id > 2000" >/dev/null
  assert_eq "$before" "$(legacy_md5)" "legacy back to its state before the sync"
}

# wait_active DB_CMD LIKE: poll (up to 30 s) until a backend runs a statement LIKE the pattern
wait_active() {
  local cmd=$1 like=$2 i
  for ((i = 0; i < 300; i++)); do
    [[ $($cmd "select count(*) from pg_stat_activity where state = 'active' and query like '$like'
               and pid <> pg_backend_pid()") != 0 ]] && return 0
    sleep 0.1
  done
  return 1
}
new_psql() { rb_psql "$NEW" "$1"; }

# hold FD CMD...: a psql session (CMD) on fd FD holding advisory lock 4242 until `release FD`;
# returns once the lock is granted.
hold() {
  local fd=$1 fifo=$T/hold.$1 i
  shift
  rm -f "$fifo"
  mkfifo "$fifo"
  "$@" <"$fifo" >/dev/null &
  echo $! >"$T/hold.$fd.pid"
  rb_on_exit kill "$!"
  eval "exec $fd>\"\$fifo\""
  echo "select pg_advisory_lock(4242);" >&"$fd"
  for ((i = 0; i < 300; i++)); do
    [[ $("$@" -c "select count(*) from pg_locks where locktype = 'advisory' and objid = 4242 and granted" </dev/null) == 1 ]] && return 0
    sleep 0.1
  done
  rb_fail "the advisory lock was never granted"
}
# The unlock is a statement of its own: the session may outlive the fifo's close, since the
# processes started meanwhile (rollbackctl) hold its write end too.
release() {
  echo "select pg_advisory_unlock_all();" >&"$1"
  eval "exec $1>&-"
}
NEW_PSQL=("$PGBIN/psql" -XAtq -h "$RB_TEST_PGHOST" -p "$RB_TEST_PGPORT" -U "$RB_TEST_PGUSER" -d "$NEW")
LEG_PSQL=("$PGBIN/psql" -XAtq -h "$PG_ROOT" -p "$PG_PORT" -U postgres -d legacy)
ran_sync() { # the run's result: exactly once, one ledger row, the table retried once
  assert_eq "$expected" "$(legacy_md5)" "$1: every payment exactly once"
  assert_eq 1 "$(lpsql "select count(*) from rollbackctl_ledger")" "$1: one ledger row"
  run_json
  local n
  n=$(res processed_payments attempts)
  if [[ ${2:-} == restart ]]; then # the server may still be starting at the second attempt
    [[ $n == 2 || $n == 3 ]] && rb_ok "$1: attempt $n applied the table" || rb_fail "$1: $n attempts"
  else
    assert_eq 2 "$n" "$1: the second attempt applied the table"
  fi
}

# --- 1. the legacy server restarted mid-COPY ---------------------------------------------------
hold 7 "${NEW_PSQL[@]}"
"$RB_BIN" -f "$RB" execute --reason "restart mid-copy" --yes >"$T/out1" 2>&1 &
run=$!
wait_active lpsql 'COPY pg_temp.rollbackctl_stage%' || rb_fail "the COPY into legacy never started"
pg_priv restart -m fast
release 7
rc=0; wait "$run" || rc=$?
assert_eq 0 "$rc" "restart mid-COPY: the run survived ($(tail -3 "$T/out1" | tr '\n' ' '))"
assert_contains "$(cat "$T/out1")" "(attempt 1 of 3); retrying the table from scratch" "the table was retried"
ran_sync "restart mid-COPY" restart

# --- 2. the source's COPY terminated -------------------------------------------------------------
reset_legacy
hold 7 "${NEW_PSQL[@]}"
"$RB_BIN" -f "$RB" execute --reason "source killed" --yes >"$T/out2" 2>&1 &
run=$!
wait_active new_psql 'COPY (SELECT %' || rb_fail "the COPY out of new never started"
assert_eq 1 "$(new_psql "select count(pg_terminate_backend(pid)) from pg_stat_activity where state = 'active'
                         and query like 'COPY (SELECT %' and pid <> pg_backend_pid()")" "the source's COPY terminated"
release 7
rc=0; wait "$run" || rc=$?
assert_eq 0 "$rc" "source COPY terminated: the run survived ($(tail -3 "$T/out2" | tr '\n' ' '))"
ran_sync "source COPY terminated"

# --- 3. the target's apply step terminated ----------------------------------------------------
reset_legacy
lpsql "create function slow_row() returns trigger language plpgsql as \$\$
       begin if new.payment_id = 2601 then perform pg_advisory_lock_shared(4242); perform pg_advisory_unlock_shared(4242);
       end if; return new; end \$\$;
       create trigger slow_row before insert on payroll_history for each row execute function slow_row()"
hold 8 "${LEG_PSQL[@]}"
"$RB_BIN" -f "$RB" execute --reason "upsert killed" --yes >"$T/out3" 2>&1 &
run=$!
# none of the payments is in legacy yet: the apply step is the plain INSERT, not the upsert
wait_active lpsql 'INSERT INTO "payroll_history" (%' || rb_fail "the apply step never started"
assert_eq 1 "$(lpsql "select count(pg_terminate_backend(pid)) from pg_stat_activity where state = 'active'
                      and query like 'INSERT INTO \"payroll_history\" (%' and pid <> pg_backend_pid()")" "the apply step terminated"
release 8
rc=0; wait "$run" || rc=$?
assert_eq 0 "$rc" "upsert terminated: the run survived ($(tail -3 "$T/out3" | tr '\n' ' '))"
ran_sync "upsert terminated"
lpsql "drop trigger slow_row on payroll_history"

# --- 4. the cached connection killed while idle, between two restore steps ---------------------
lpsql "create table marks (step text primary key)"
cat >"$T/restore.yaml" <<YAML
version: 1
name: pg-faults-idle
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state-idle
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=$PG_PORT user=postgres dbname=legacy connect_timeout=5" }
restore:
  - name: Mark one
    sql: { target: legacy, statement: "insert into marks values ('one')" }
  - name: Restart legacy
    run: [runuser, -u, postgres, --, $PGBIN/pg_ctl, restart, -m, fast, -w, -t, "60", -D, $PG_ROOT/data, -l, $PG_ROOT/log]
  - name: Mark two
    sql: { target: legacy, statement: "insert into marks values ('two')" }
  - name: Terminate the sessions
    run: [$PGBIN/psql, -XAtq, -h, $PG_ROOT, -p, "$PG_PORT", -U, postgres, -d, legacy, -c, "select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = 'rollbackctl'"]
  - name: Mark three
    sql: { target: legacy, statement: "insert into marks values ('three')" }
YAML
[[ $(id -u) == 0 ]] || sed -i 's/run: \[runuser, -u, postgres, --, /run: [/' "$T/restore.yaml"
assert_exit 0 "$RB_BIN" -f "$T/restore.yaml" execute --reason "idle connection killed" --yes
assert_eq "one three two" "$(lpsql "select string_agg(step, ' ' order by step) from marks")" \
  "each step after a restart or a termination reconnected and applied once"

# --- 5. the connection lost during COMMIT: outcome unknown, resume does not apply it blindly -----
lpsql "create table counters (k text primary key, n int); insert into counters values ('restore', 0);
       create function slow_commit() returns trigger language plpgsql as \$\$
       begin perform pg_sleep(case when (select n from counters where k = 'restore') = 1
                                   and not exists (select from marks where step = 'commit-ok') then 60 else 0 end);
             return null; end \$\$;
       create constraint trigger slow_commit after update on counters deferrable initially deferred
       for each row execute function slow_commit()"
cat >"$T/commit.yaml" <<YAML
version: 1
name: pg-faults-commit
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state-commit
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=$PG_PORT user=postgres dbname=legacy connect_timeout=5" }
restore:
  - name: Count the restore
    sql: { target: legacy, statement: "update counters set n = n + 1 where k = 'restore'" }
  - name: Mark done
    sql: { target: legacy, statement: "insert into marks values ('done')" }
YAML
"$RB_BIN" -f "$T/commit.yaml" execute --reason "commit lost" --yes >"$T/out5" 2>&1 &
run=$!
wait_active lpsql 'COMMIT' || rb_fail "the COMMIT never started"
assert_eq 1 "$(lpsql "select count(pg_terminate_backend(pid)) from pg_stat_activity where state = 'active'
                      and query = 'COMMIT' and pid <> pg_backend_pid()")" "the COMMIT's backend terminated"
rc=0; wait "$run" || rc=$?
assert_eq 1 "$rc" "a COMMIT without an answer fails the run"
assert_contains "$(cat "$T/out5")" "lost during COMMIT: the statement may or may not have been committed" "the message says the outcome is unknown"
J=$(ls "$T"/state-commit/runs/*/journal.jsonl)
assert_contains "$(grep '"action":"restore/count-the-restore","event":"failed"' "$J")" '"outcome_unknown":true' \
  "journaled failed, with outcome_unknown"
assert_exit 1 "$RB_BIN" -f "$T/commit.yaml" resume
assert_contains "$RB_ERR" "action 'restore/count-the-restore' was in flight when the run stopped and is not safe to apply twice" \
  "resume does not apply a step of unknown outcome again blindly"
assert_eq "0" "$(lpsql "select n from counters where k = 'restore'")" "nothing applied twice (the terminated COMMIT rolled back)"
# The documented answer: give the step a verify; resume checks it first and applies it once.
lpsql "insert into marks values ('commit-ok')"
sed -i "s|statement: \"update counters set n = n + 1 where k = 'restore'\" }|&\n    verify: { target: legacy, sql: \"select n = 1 from counters where k = 'restore'\" }|" "$T/commit.yaml"
assert_exit 0 "$RB_BIN" -f "$T/commit.yaml" resume
assert_eq "1" "$(lpsql "select n from counters where k = 'restore'")" "the step applied exactly once"
assert_eq "1" "$(lpsql "select count(*) from marks where step = 'done'")" "and the run finished"
