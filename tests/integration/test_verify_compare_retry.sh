#!/usr/bin/env bash
# A connection lost during verify's compare (its backend terminated with pg_terminate_backend in
# the middle of the comparison) is retried on new connections, as sync retries a table: verify
# still passes (exit 0) and says it retried. A connection lost on every attempt gives up after 3
# and the check "could not run", its error naming the lost connection and the attempts.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg

T=$(rb_tmpdir)
NEW=$(rb_createdb crnew)
LEG=$(rb_createdb crlegacy)
# analyzed, as autovacuum soon leaves them: with statistics the planner once memoized the shared
# scan's per-row conditions by created_at (one value here), so the slow `where` ran once, not per
# row, and the comparison finished before it could be interrupted (compare.c turns Memoize off)
rb_psql "$NEW" "create table p (id int primary key, v text, created_at timestamptz);
                insert into p select g, 'v' || g, '2026-11-02' from generate_series(1, 3000) g; analyze p"
rb_psql "$LEG" "create table p (id int primary key, v text); insert into p select g, 'v' || g from generate_series(1, 3000) g; analyze p"
RB=$T/runbook.yaml
cat >"$RB" <<YAML
$(rb_runbook_pg verify-compare-retry "$T/state" "$NEW" "$LEG")
sync:
  from: new
  to: legacy
  tables:
    - name: slow
      source: { table: p, changed_since: created_at, where: "pg_sleep(0.001) IS NOT NULL" }
      target: { table: p, key: [id] }
      columns: { id: id, v: v }
verify:
  - name: Slow compare
    compare: { table: slow }
YAML

# the comparison's backend on new: the one running the slow source expression
comparing() {
  rb_psql postgres "select pid from pg_stat_activity where datname = '$NEW' and application_name = 'rollbackctl'
                    and query like '%pg_sleep(0.001)%' and state = 'active' and pid <> pg_backend_pid()"
}
terminate() { rb_psql postgres "select count(*) from (select pg_terminate_backend($1)) t"; }

# 1. one connection lost: the compare runs again and passes
"$RB_BIN" -f "$RB" verify >"$T/out" 2>"$T/err" &
pid=$!
victim=
for _ in $(seq 200); do victim=$(comparing); [[ -n "$victim" ]] && break; sleep 0.05; done
[[ -n "$victim" ]] || rb_fail "the comparison never started on the server"
assert_eq 1 "$(terminate "$victim")" "the comparison's backend was terminated"
rc=0
wait "$pid" || rc=$?
cat "$T/err" >&2
assert_eq 0 "$rc" "verify passes after a lost connection"
assert_contains "$(cat "$T/err")" "check 'Slow compare': " "the retry is announced"
assert_contains "$(cat "$T/err")" "(attempt 1 of 3); comparing again in 1s" "the first attempt was retried"
assert_not_contains "$(cat "$T/err")" "attempt 2 of 3" "one retry was enough"
assert_contains "$(cat "$T/out")" "verification passed: 1 of 1 checks passed"
assert_contains "$(cat "$T/out")" "3000 rows changed since cutover, all match in legacy"
[[ -z "$(comparing)" ]] || rb_fail "the terminated comparison's successor is still running"

# 2. lost on every attempt: the check could not run (exit 1), and says why, not "differ"
"$RB_BIN" -f "$RB" -o json verify >"$T/out2" 2>"$T/err2" &
pid=$!
killed=0
while kill -0 "$pid" 2>/dev/null; do
  v=$(comparing)
  if [[ -n "$v" ]]; then
    killed=$((killed + $(terminate "$v")))
  fi
  sleep 0.05
done
rc=0
wait "$pid" || rc=$?
assert_eq 1 "$rc" "verify fails when the compare cannot run"
assert_eq 3 "$killed" "each of the 3 attempts lost its connection"
assert_contains "$(cat "$T/err2")" "(attempt 2 of 3); comparing again in 2s" "the second attempt was retried"
summary=$(/usr/bin/python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["checks"][0]; print(c["passed"], c["summary"])' "$T/out2")
assert_contains "$summary" "False could not run: " "the check could not run"
assert_contains "$summary" "(gave up after 3 attempts)" "after 3 attempts"
assert_not_contains "$summary" "differ" "not reported as a data mismatch"
rb_ok "a compare that loses its connection is retried on new connections"
