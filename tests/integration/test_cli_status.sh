#!/usr/bin/env bash
# status of a run that failed, was resumed and then killed: it says 'stopped' with the resume
# hint, and no longer the error or hint of the attempt before (nor the failed action's duration
# and result now that it is in flight again). -o json has each key once.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
RB=$T/runbook.yaml
cat >"$RB" <<YAML
version: 1
name: status-test
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Step one
    run: [sh, -c, "echo one >> $T/log"]
  - name: Step two
    run: [sh, -c, "test -f $T/two-ok || exit 1; echo \$\$ > $T/two.pid; sleep 30"]
YAML
wait_for() { local i; for ((i = 0; i < 200; i++)); do [ -s "$1" ] && return 0; sleep 0.05; done; rb_fail "timed out waiting for $1"; }

rc=0; "$RB_BIN" -f "$RB" execute --reason "status test" --yes >/dev/null 2>&1 || rc=$?
assert_eq "1" "$rc" "step two fails the first attempt"
assert_contains "$("$RB_BIN" -f "$RB" status)" "fix the cause, then 'rollbackctl resume" "the failed run's hint"

touch "$T/two-ok"
"$RB_BIN" -f "$RB" resume >/dev/null 2>&1 &
pid=$!
wait_for "$T/two.pid"
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
kill -9 -- "-$(cat "$T/two.pid")" 2>/dev/null || true

json=$("$RB_BIN" -f "$RB" -o json status)
/usr/bin/python3 - "$json" <<'PY' || rb_fail "status -o json: $json"
import json, sys
def pairs(kv):
    keys = [k for k, _ in kv]
    assert len(keys) == len(set(keys)), "duplicate keys: %s" % keys
    return dict(kv)
d = json.loads(sys.argv[1], object_pairs_hook=pairs)
assert d["outcome"] == "stopped", d["outcome"]
assert "error" not in d, d.get("error")   # status itself succeeded
assert d["run_error"] is None, d["run_error"]
assert "stopped without finishing" in d["hint"], d["hint"]
two = [a for a in d["actions"] if a["phase"] == "restore"][1]
assert two["state"] == "in flight", two
for k in ("duration_ms", "result", "message", "error", "finished"):
    assert two[k] is None, "stale %s of the failed attempt: %s" % (k, two)
PY
rb_ok "status -o json: stopped, one hint (the resume one), no stale error"
text=$("$RB_BIN" -f "$RB" status)
assert_contains "$text" "stopped without finishing"
assert_not_contains "$text" "fix the cause" "the earlier attempt's hint is gone"

# Resume without a RUN_ID continues the latest run only: run A is left failed, run B succeeds
# after it, and a bare `resume` must not go back and continue A (it would redo A's steps after
# B's rollback finished). Naming A still works.
rm -f "$T/two-ok" "$T/log"
sed -i "s|; echo .* sleep 30\"|\"|" "$RB"   # step two: no more sleeping
grep -q "two-ok || exit 1\"" "$RB" || rb_fail "runbook not rewritten: $(cat "$RB")"
rc=0; "$RB_BIN" -f "$RB" execute --reason "run A" --yes >/dev/null 2>&1 || rc=$?
assert_eq "1" "$rc" "run A fails at step two"
run_a=$(ls "$T/state/runs" | tail -1)
touch "$T/two-ok"
"$RB_BIN" -f "$RB" execute --reason "run B" --yes >/dev/null 2>&1 || rb_fail "run B failed"
run_b=$(ls "$T/state/runs" | tail -1)
assert_exit 1 "$RB_BIN" -f "$RB" resume
assert_contains "$RB_ERR" "latest run '$run_b' already finished (succeeded)"
assert_contains "$RB_ERR" "rollbackctl resume $run_a" "the hint names the older unfinished run"
assert_eq "one one " "$(tr '\n' ' ' <"$T/log")" "nothing re-applied"
"$RB_BIN" -f "$RB" resume "$run_a" >/dev/null 2>&1 || rb_fail "resume of the named run A failed"
echo "ok - status after a resumed run was killed; resume defaults to the latest run only"
