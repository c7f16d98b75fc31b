#!/usr/bin/env bash
# --lock-timeout DURATION (issue 16, terraform's -lock-timeout): a writing command waits for the
# state_dir lock another run holds, trying again, instead of exit 4 at once. A holder run keeps the
# lock while its restore step waits on a fifo; the test knows the order from files (the holder's
# step has started; the waiter has said it waits), never from sleeps. Then: no --lock-timeout is
# exit 4 at once; a short one gives up with exit 4 naming how long it waited and the holder; a
# long one gets the lock once the holder ends and its run completes; a bad duration is exit 2.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
RB=$T/runbook.yaml
mkfifo "$T/go"
cat >"$RB" <<YAML
version: 1
name: locktest
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Hold the lock
    run: ["bash", "-c", "if [ ! -e '$T/held' ]; then touch '$T/held'; read -r _ < '$T/go'; fi"]
YAML

# poll a condition with a deadline (a handshake, not a sleep deciding the order)
wait_for() { # WHAT CMD...
  local what=$1 i
  shift
  for i in $(seq 600); do
    "$@" && return 0
    [[ -n "${holder:-}" ]] && ! kill -0 "$holder" 2>/dev/null && rb_fail "the holder ended before: $what"
    sleep 0.05
  done
  rb_fail "no $what within 30 s"
}

"$RB_BIN" -f "$RB" execute --reason holder --yes >"$T/holder.out" 2>"$T/holder.err" &
holder=$!
rb_on_exit bash -c "kill $holder 2>/dev/null; exec 3<>'$T/go'; echo >&3"
wait_for "holder step" test -e "$T/held"

assert_exit 4 "$RB_BIN" -f "$RB" execute --reason "no wait" --yes
assert_contains "$RB_ERR" "is locked by run" "without --lock-timeout: exit 4 at once, the holder named"
assert_not_contains "$RB_ERR" "waiting" "without --lock-timeout: no waiting"

assert_exit 4 "$RB_BIN" -f "$RB" --lock-timeout 300ms execute --reason "short wait" --yes
assert_contains "$RB_ERR" "gave up waiting 300ms for the lock (--lock-timeout): state_dir '$T/state' is locked by run" \
  "a short --lock-timeout gives up, exit 4, saying how long and who holds it"
assert_contains "$RB_ERR" "waiting up to 300ms for it (--lock-timeout)" "it said it was waiting"

assert_exit 2 "$RB_BIN" -f "$RB" --lock-timeout soon execute --reason "bad" --yes
assert_contains "$RB_ERR" "invalid duration 'soon' for --lock-timeout" "a bad duration is a usage error"

# the waiter: started while the lock is held, told to wait long enough
"$RB_BIN" -f "$RB" execute --reason waiter --yes --lock-timeout 60s >"$T/waiter.out" 2>"$T/waiter.err" &
waiter=$!
wait_for "waiter waiting" grep -q "waiting up to 1m for it (--lock-timeout)" "$T/waiter.err"
assert_eq 1 "$(ls "$T/state/runs" | wc -l)" "while it waits, only the holder's run exists"
echo >"$T/go"
rc=0
wait "$holder" || rc=$?
assert_eq 0 "$rc" "the holder run completed"
holder=
rc=0
wait "$waiter" || rc=$?
[[ $rc -eq 0 ]] && rb_ok "the waiter got the lock once the holder ended, and its run completed" ||
  rb_fail "the waiter exited $rc: $(cat "$T/waiter.err")"
assert_eq 2 "$(ls "$T/state/runs" | wc -l)" "two runs, one after the other"
assert_eq 2 "$(cat "$T"/state/runs/*/journal.jsonl | jq -r 'select(.event == "run_finished") | .data.outcome' | grep -c .)" \
  "both runs finished in their journals"
