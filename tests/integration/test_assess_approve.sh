#!/usr/bin/env bash
# Assess and approve together (issue 11): the severity the decision matrix picks sets how many
# approvals execute waits for, and a point of no return that is true asks one approval more, its
# message shown to every approver (the `approve` output and `status`) and journaled. Signals come
# from a JSON file, so no server is needed; the run's one change is a `run` step writing a file.
# The initiator is root; the second and third people are root speaking for SUDO_USER.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
S=$T/state W=$T/work
mkdir -p "$W"
cat >"$T/signals.json" <<'JSON'
{ "calc_error_ratio": 0.14, "payment_files_sent": 2 }
JSON
RB=$T/runbook.yaml
cat >"$RB" <<YAML
version: 1
name: assess-approve-test
cutover: 2026-11-01T00:00:00Z
state_dir: $S
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
signals:
  calc_error_ratio: { file: signals.json }
  payment_files_sent: { file: signals.json }
decision:
  matrix:
    - scenario: Critical calculation errors
      when: calc_error_ratio > 0.10
      severity: critical
      impact: high
      action: rollback
      recovery_time: 2h-4h
  rollback_if:
    - severity == "critical"
  point_of_no_return:
    - when: payment_files_sent > 0
      message: bank payment files were sent from the new system since cutover
approval:
  required: { critical: 1, high: 2 }
  timeout: 30s
restore:
  - name: Change
    run: [sh, -c, "echo changed >> $W/log"]
YAML

# plan: the matrix's severity (critical: 1) plus one for the point of no return
out=$("$RB_BIN" -f "$RB" plan 2>&1)
assert_contains "$out" "point of no return" "plan names the point of no return"
assert_contains "$out" "2 approvals" "plan: critical needs 1, the point of no return one more"

assert_exit 0 "$RB_BIN" -f "$RB" assess
assert_contains "$RB_OUT$RB_ERR" "bank payment files were sent from the new system since cutover" \
  "assess shows the point of no return"

"$RB_BIN" -f "$RB" execute --reason "assess approve test" --yes >"$T/exec.out" 2>"$T/exec.err" &
PID=$!
rb_on_exit kill -9 "$PID"
n=0
until [[ -d "$S/runs" ]] && "$RB_BIN" -f "$RB" -o json status 2>/dev/null | jq -e '.waiting != null' >/dev/null; do
  sleep 0.05
  n=$((n + 1))
  ((n < 400)) || rb_fail "the run never waited for approvals: $(cat "$T/exec.err")"
done
ID=$(ls "$S/runs" | tail -n 1)
assert_eq "1" "$("$RB_BIN" -f "$RB" -o json status "$ID" | jq -r .waiting.still_needed)" \
  "one more approval than the severity asks for (the initiator's confirmation is the first)"
st=$("$RB_BIN" -f "$RB" status "$ID")
assert_contains "$st" "bank payment files were sent" "status shows the point of no return"
[[ ! -e "$W/log" ]] || rb_fail "nothing may change before the quorum"

assert_exit 0 env SUDO_USER=rbpayrolllead "$RB_BIN" -f "$RB" approve "$ID" --comment "files recalled"
assert_contains "$RB_OUT" "bank payment files were sent" "the approver is shown the point of no return"
wait "$PID" || rb_fail "execute failed after the quorum: $(cat "$T/exec.err")"
assert_eq "changed" "$(cat "$W/log")" "the run went on after the quorum"

J=$S/runs/$ID/journal.jsonl
assert_eq "critical" "$(jq -r 'select(.event == "fact" and .data.key == "severity") | .data.value' "$J" | head -n 1)" \
  "the severity came from the matrix"
assert_eq "2" "$(jq -r 'select(.event == "done" and .action == "approve/quorum") | .data.needed' "$J")" \
  "the journal says two approvals were needed"
assert_eq "root rbpayrolllead" \
  "$(jq -r 'select(.event == "done" and .action == "approve/quorum") | [.data.approvals[].user] | join(" ")' "$J")" \
  "the initiator and the approver, journaled"
assert_contains "$(jq -c 'select(.event == "done" and .action == "assess/verdict") | .data.point_of_no_return' "$J")" \
  "bank payment files" "the assessment journaled the point of no return"
rb_ok "a point of no return asks one approval more and is shown to every approver"
