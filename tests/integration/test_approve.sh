#!/usr/bin/env bash
# Approvals (issue 11): a critical run needs approval.required.critical = 3 approvals, the
# initiator's and two more people's, in a state_dir shared by an operators' group (chmod 2770).
# Real OS users made here (removed on exit): the initiator A and the approvers B and C, all in
# group G. Checked: the initiator's own approve is refused; B twice counts once; a record forged
# by B in C's name is ignored; C through sudo (root with SUDO_USER) completes the quorum and the
# run goes on; deny (exit 3, status names who and why, nothing applied); timeout (exit 3, nothing
# applied); kill -9 while waiting, an approval given while no process waits, then resume: the same
# deadline, the approvals kept; approve of a finished run exit 1. No server: the runbook's one
# change is a `run` step that writes a file.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

[[ $(id -u) == 0 ]] || rb_skip "needs root to make OS users (useradd)"
command -v useradd >/dev/null && command -v runuser >/dev/null || rb_skip "needs useradd and runuser"

sfx=$$
G=rbg$sfx A=rba$sfx B=rbb$sfx C=rbc$sfx
rb_on_exit groupdel "$G"
rb_on_exit userdel "$A"
rb_on_exit userdel "$B"
rb_on_exit userdel "$C"
groupadd "$G"
for u in "$A" "$B" "$C"; do useradd -M -N -g "$G" -s /bin/sh "$u"; done

T=$(rb_tmpdir)
chmod 0755 "$T"
S=$T/state W=$T/work
mkdir "$S" "$W"
chown "$A:$G" "$S" "$W"
chmod 2770 "$S"
HOST=$(hostname)

# runbook FILE TIMEOUT
runbook() {
  cat >"$1" <<YAML
version: 1
name: approve-test
cutover: 2026-11-01T00:00:00Z
state_dir: $S
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
approval:
  required: { critical: 3, high: 2 }
  timeout: $2
restore:
  - name: Change
    run: [sh, -c, "echo changed >> $W/log"]
YAML
  chmod 0644 "$1"
}
RB=$T/runbook.yaml
runbook "$RB" 10m # long: under load the steps of this test take seconds each

as() { # USER ARGS...: rollbackctl as that OS user
  local u=$1
  shift
  runuser -u "$u" -- "$RB_BIN" -f "$RB" "$@"
}
nruns() { if [[ -d "$S/runs" ]]; then ls "$S/runs" | wc -l; else echo 0; fi; }
start() { # start a critical run as A in the background; sets PID and ID
  local before
  before=$(nruns)
  as "$A" execute --reason "approve test" --yes --severity critical >"$T/exec.out" 2>"$T/exec.err" &
  PID=$!
  local n=0
  # deadlines are generous (60 s): the handshake decides the order, the deadline only stops a hang
  while (($(nruns) == before)) && ((n < 1200)); do sleep 0.05; n=$((n + 1)); done
  ID=$(ls "$S/runs" | tail -n 1)
  # runuser waits for its child: the rollbackctl process is the one the lock names (written
  # before the run folder is made)
  RPID=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$S/lock")
  rb_on_exit kill -9 "$RPID"
}
waiting_count() { # how many approvals the journal shows while waiting, or "none"
  as "$B" -o json status "$ID" 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; w=json.load(sys.stdin)["waiting"]; print("none" if w is None else len(w["approvals"]))'
}
wait_count() { # N: until the waiting run journaled N approvals
  local deadline=$((SECONDS + 60))
  while [[ "$(waiting_count)" != "$1" ]] && ((SECONDS < deadline)); do sleep 0.05; done
  [[ "$(waiting_count)" == "$1" ]] || rb_fail "timed out waiting for $1 journaled approvals (have $(waiting_count))"
}
J() { echo "$S/runs/$ID/journal.jsonl"; }

# --- plan says how many approvals, for which severity, and how others approve ------------------
text=$(as "$A" plan --offline --severity critical)
assert_contains "$text" "3 approvals (severity critical): the initiator and 2 more persons"
assert_contains "$text" "'rollbackctl approve RUN_ID [--comment C]'" "plan says how others approve"
text=$(as "$A" plan --offline)
assert_contains "$text" "severity unknown: the strictest of approval.required" "unknown severity: the strictest"
assert_contains "$text" "3 approvals (severity unknown)"
text=$(as "$A" plan --offline --severity low)
assert_contains "$text" "1 approval (severity low): the initiator's confirmation" "a severity not listed: 1"

assert_exit 2 as "$B" approve
assert_contains "$RB_ERR" "approve needs the RUN_ID of the run" "approve without a RUN_ID: usage error"
assert_exit 1 as "$B" approve 20990101T000000000Z-000000
assert_contains "$RB_ERR" "no run '20990101T000000000Z-000000'"

# --- quorum: A's own approve refused, B twice counts once, a forged record ignored, C via sudo --
start
wait_count 1
assert_eq "640" "$(stat -c %a "$(J)")" "the journal is group-readable in a shared state_dir"
assert_eq "2770" "$(stat -c %a "$S/runs/$ID/approvals")" "approvals/ is group-writable (setgid)"
assert_eq "$G" "$(stat -c %G "$S/runs/$ID/approvals")" "and of the operators' group"
assert_exit 1 as "$A" approve "$ID"
assert_contains "$RB_ERR" "your confirmation already counts as its first approval" "the initiator cannot approve twice"
# the plan hash: the plan an approver reviewed is the plan the run journaled; another is refused
SHA=$(as "$A" -o json plan --offline --severity critical | jq -r .plan_sha256)
assert_eq "$SHA" "$(grep '"event":"run_started"' "$(J)" | jq -r .data.plan_sha256)" "the run's plan hash is the reviewed plan's"
assert_contains "$(as "$B" status "$ID")" "plan sha256:  $SHA" "status shows it to approvers"
assert_exit 1 as "$B" approve "$ID" --plan-sha256 "$(printf '0%.0s' {1..64})"
assert_contains "$RB_ERR" "run '$ID' executes the plan sha256 $SHA, not the plan you reviewed" "approve refuses another plan's hash"
assert_exit 2 as "$B" approve "$ID" --plan-sha256 abc
assert_contains "$RB_ERR" "is not a SHA-256"
assert_eq "1" "$(waiting_count)" "nothing was recorded"
# C's record for another plan (C's own file, so only its hash is wrong): not counted
cat >"$T/otherplan.json" <<JSON
{"kind":"approve","user":"$C","host":"$HOST","at":"2026-12-01T00:00:00.000Z","comment":"other plan","pid":1,"plan_sha256":"$(printf 'a%.0s' {1..64})"}
JSON
runuser -u "$C" -- cp "$T/otherplan.json" "$S/runs/$ID/approvals/2026-12-01T00-00-01-000Z-approve-$C-2.json"
assert_exit 0 as "$B" approve "$ID" --comment "numbers checked" --plan-sha256 "$SHA"
assert_contains "$RB_OUT" "approval of run $ID recorded for $B@$HOST: numbers checked"
assert_contains "$RB_OUT" "plan sha256: $SHA" "approve shows the plan hash it approves"
assert_contains "$(cat "$S/runs/$ID"/approvals/*"-approve-$B-"*.json)" "\"plan_sha256\":\"$SHA\"" "and records it"
assert_contains "$RB_OUT" "2 of 3 approvals; 1 more needed: rollbackctl approve $ID"
wait_count 2
assert_exit 0 as "$B" approve "$ID"
assert_contains "$RB_OUT" "$B already approved run $ID" "a second approval by the same person says so (exit 0)"
# B writes a record in C's name: its owner is B, so the run ignores it
cat >"$T/forged.json" <<JSON
{"kind":"approve","user":"$C","host":"$HOST","at":"2026-12-01T00:00:00.000Z","comment":"forged","pid":1}
JSON
runuser -u "$B" -- cp "$T/forged.json" "$S/runs/$ID/approvals/2026-12-01T00-00-00-000Z-approve-$C-1.json"
sleep 0.8
assert_eq "2" "$(waiting_count)" "the forged record did not count"
assert_contains "$(cat "$T/exec.err")" "ignoring the approval by '$C': it was given for plan sha256 aaaaaaaaaaaa" \
  "an approval for another plan hash did not count either"
assert_contains "$(cat "$T/exec.err")" "it names user '$C' but was written by '$B'" "the run warns about it"
text=$(as "$C" status "$ID")
assert_contains "$text" "waiting for:  1 more approval" "status shows how many more are needed"
assert_contains "$text" "rollbackctl approve $ID" "and the command"
assert_contains "$text" "approved by:  $B@$HOST at" "and who approved"
assert_exit 0 env SUDO_USER="$C" "$RB_BIN" -f "$RB" approve "$ID" --comment "via sudo"
rc=0; wait "$PID" || rc=$?
assert_eq "0" "$rc" "the run went on once three people approved"
assert_eq "changed" "$(cat "$W/log")" "and its step ran"
assert_eq "$A $B $C" "$(/usr/bin/python3 - "$(J)" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["action"] == "approve/quorum" and e["event"] == "done":
        print(" ".join(a["user"] for a in e["data"]["approvals"]))
PY
)" "the journal names the three approvers once each, the initiator first"
assert_contains "$(grep '"event":"fact"' "$(J)")" '"key":"approvals"' "the approvals are a fact for the communicate phase"
assert_exit 1 as "$B" approve "$ID"
assert_contains "$RB_ERR" "run '$ID' is not waiting for approvals (it is succeeded)" "approve of a finished run"
rm -f "$W/log"

# --- deny: comment required, exit 3, status names who and why, nothing applied ----------------------
start
wait_count 1
assert_exit 2 as "$C" deny "$ID"
assert_contains "$RB_ERR" "deny needs --comment"
assert_exit 0 as "$C" deny "$ID" --comment "payroll runs tonight"
rc=0; wait "$PID" || rc=$?
assert_eq "3" "$rc" "a denied run is declined (exit 3)"
assert_contains "$(cat "$T/exec.err")" "run denied by $C@$HOST: payroll runs tonight"
text=$(as "$B" status "$ID")
assert_contains "$text" "declined"
assert_contains "$text" "denied by:    $C@$HOST at" "status names who denied"
assert_contains "$text" "payroll runs tonight" "and why"
assert_not_contains "$(cat "$(J)")" '"phase":"restore"' "nothing after approve was started"
[[ ! -e "$W/log" ]] || rb_fail "the step ran after a deny"

# --- timeout: no quorum by approval.timeout, exit 3, nothing applied ------------------------------
runbook "$RB" 2s
rc=0; as "$A" execute --reason "timeout" --yes --severity critical >"$T/t.out" 2>"$T/t.err" || rc=$?
assert_eq "3" "$rc" "no quorum by the deadline: declined (exit 3)"
assert_contains "$(cat "$T/t.err")" "no quorum: 1 of 3 approvals by"
ID=$(ls "$S/runs" | tail -n 1)
assert_not_contains "$(cat "$(J)")" '"phase":"restore"' "nothing after approve was started"
[[ ! -e "$W/log" ]] || rb_fail "the step ran after a timeout"

# --- Ctrl-C while waiting: interrupted, resumable ------------------------------------------------
runbook "$RB" 10m
start
wait_count 1
kill -INT "$RPID"
rc=0; wait "$PID" || rc=$?
assert_eq "1" "$rc" "Ctrl-C while waiting: the run stops (exit 1)"
assert_contains "$(cat "$T/exec.err")" "interrupted while waiting for approvals (1 of 3)"
assert_contains "$(tail -n 1 "$(J)")" '"outcome":"interrupted"' "journaled as interrupted, so resume continues it"

# --- kill -9 while waiting, an approval while no process waits, resume: same deadline -----------
start
wait_count 1
assert_exit 0 as "$B" approve "$ID" --comment "before the crash"
wait_count 2
kill -9 "$RPID"
wait "$PID" 2>/dev/null || true
assert_exit 0 as "$C" approve "$ID" --comment "while nobody waits"
assert_contains "$RB_OUT" "no process is waiting for this run now; it counts when the run is resumed"
# an edited runbook may not lower what the run already asked for
sed -i 's/critical: 3/critical: 1/' "$RB"
rc=0; as "$A" resume "$ID" >"$T/r.out" 2>"$T/r.err" || rc=$?
assert_eq "0" "$rc" "resume takes the approval given while no process waited and goes on"
assert_eq "changed" "$(cat "$W/log")" "the step ran once, after the resume"
/usr/bin/python3 - "$(J)" "$A $B $C" <<'PY' || rb_fail "deadline or approvals not kept across the resume"
import json, sys
deadlines, done = set(), None
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["action"] != "approve/quorum":
        continue
    if e["event"] == "progress":
        deadlines.add(e["data"]["deadline_ms"])
    if e["event"] == "done":
        done = " ".join(a["user"] for a in e["data"]["approvals"])
        assert e["data"]["needed"] == 3, e["data"]
assert len(deadlines) == 1, deadlines
assert done == sys.argv[2], done
PY
rb_ok "one deadline before and after the kill; the approvals kept; still 3 needed after the edit"
