#!/usr/bin/env bash
# SIGINT during a long comparison: `verify` stops at once with exit 1 and "interrupted", and the
# queries it had running on both servers are cancelled, not left to run to their end.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg

T=$(rb_tmpdir)
NEW=$(rb_createdb inew)
LEG=$(rb_createdb ilegacy)
rb_psql "$NEW" "create table p (id int primary key, v text, created_at timestamptz);
                insert into p select g, 'v' || g, '2026-11-02' from generate_series(1, 20000) g"
rb_psql "$LEG" "create table p (id int primary key, v text); insert into p select g, 'v' || g from generate_series(1, 20000) g"
RB=$T/runbook.yaml
cat >"$RB" <<YAML
$(rb_runbook_pg verify-interrupt "$T/state" "$NEW" "$LEG")
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
  - name: Never reached
    run: [touch, $T/reached]
YAML

active() { rb_psql postgres "select count(*) from pg_stat_activity where query like '%pg_sleep(0.001)%' and state = 'active' and pid <> pg_backend_pid()"; }

start=$(date +%s%N)
"$RB_BIN" -f "$RB" verify >"$T/out" 2>"$T/err" &
pid=$!
for _ in $(seq 100); do [[ "$(active)" != 0 ]] && break; sleep 0.05; done
[[ "$(active)" != 0 ]] || rb_fail "the comparison never started on the server"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
assert_eq 1 "$rc" "interrupted verify exits 1"
assert_contains "$(cat "$T/err")" "interrupted while comparing 'slow'"
(( elapsed_ms < 15000 )) || rb_fail "verify took ${elapsed_ms} ms to stop"
rb_ok "stopped in ${elapsed_ms} ms, not after the full 20 s scan"
[[ ! -e "$T/reached" ]] || rb_fail "a check after the interruption ran"
rb_ok "no check ran after the interruption"
for _ in $(seq 40); do [[ "$(active)" == 0 ]] && break; sleep 0.05; done
assert_eq 0 "$(active)" "no query left running on the servers"
