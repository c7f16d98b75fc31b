#!/usr/bin/env bash
# The initiator's confirmation at a real terminal (tmux): execute without --yes asks, after the
# pre-flight and the assessment, for the runbook's name, showing the severity and the approvals
# needed. The right name -> the run goes on (exit 0, its step ran); a wrong one -> declined
# (exit 3), nothing applied. A critical run (2 needed) then shows its waiting line on the
# terminal's progress line until a second person approves. Without a terminal and without
# --yes: usage error (exit 2) before any run begins. No server: the runbook's change is a `run` step writing a file.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

command -v tmux >/dev/null || rb_skip "needs tmux"

T=$(rb_tmpdir)
RB=$T/runbook.yaml
S=$T/state
cat >"$RB" <<YAML
version: 1
name: prompt-test
cutover: 2026-11-01T00:00:00Z
state_dir: $S
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
approval:
  required: { high: 1, critical: 2 }
restore:
  - name: Change
    run: [sh, -c, "echo changed >> $T/log"]
YAML

SOCK=$T/tmux.sock
rb_on_exit tmux -S "$SOCK" kill-server

# prompt ANSWER [SEVERITY [THEN]]: run execute in a tmux pane, type ANSWER at the prompt, then run
# the function THEN (if given); leaves its exit code in $T/rc and the screen in $T/screen
prompt() {
  rm -f "$T/rc"
  tmux -S "$SOCK" new-session -d -x 200 -y 50 \
    "'$RB_BIN' -f '$RB' --no-color execute --reason 'prompt test' --severity ${2:-high}; echo \$? >'$T/rc'; sleep 30"
  local n=0
  until tmux -S "$SOCK" capture-pane -p | grep -q "Type the runbook name to go on:"; do
    ((n++ < 200)) || rb_fail "no prompt: $(tmux -S "$SOCK" capture-pane -p)"
    sleep 0.05
  done
  tmux -S "$SOCK" capture-pane -p >"$T/screen"
  tmux -S "$SOCK" send-keys "$1" Enter
  [[ -z "${3:-}" ]] || "$3"
  n=0
  until [[ -s "$T/rc" ]]; do
    ((n++ < 200)) || rb_fail "execute did not end: $(tmux -S "$SOCK" capture-pane -p)"
    sleep 0.05
  done
  tmux -S "$SOCK" capture-pane -p >"$T/screen.end"
  tmux -S "$SOCK" kill-server
}

prompt "prompt-test"
assert_eq "0" "$(cat "$T/rc")" "the right name: the run goes on"
assert_contains "$(cat "$T/screen")" "severity:  high" "the prompt shows the severity"
assert_contains "$(cat "$T/screen")" "approvals: 1 needed: yours alone" "and the approvals needed"
assert_contains "$(cat "$T/screen")" "pre-flight:" "it comes after the pre-flight"
assert_eq "changed" "$(cat "$T/log")" "the step ran"

prompt "not-the-name"
assert_eq "3" "$(cat "$T/rc")" "a wrong name: declined (exit 3)"
assert_contains "$(cat "$T/screen.end")" "not confirmed: 'not-the-name' is not the runbook name 'prompt-test'"
assert_eq "changed" "$(cat "$T/log")" "the step did not run again"
ID=$(ls "$S/runs" | tail -n 1)
assert_contains "$(cat "$S/runs/$ID/journal.jsonl")" '"outcome":"declined"' "the run is journaled declined"
assert_not_contains "$(cat "$S/runs/$ID/journal.jsonl")" '"phase":"restore"' "nothing after approve started"

# a critical run needs one more person: the terminal shows the waiting line, refreshed in place
approve_when_shown() {
  local n=0
  until tmux -S "$SOCK" capture-pane -p | grep -q "waiting for 1 more approval, .* left: rollbackctl approve"; do
    ((n++ < 200)) || rb_fail "no waiting line: $(tmux -S "$SOCK" capture-pane -p)"
    sleep 0.05
  done
  tmux -S "$SOCK" capture-pane -p >"$T/screen.waiting"
  SUDO_USER=prompt-test-approver "$RB_BIN" -f "$RB" approve "$(ls "$S/runs" | tail -n 1)" >/dev/null
}
rm -f "$T/log"
prompt "prompt-test" critical approve_when_shown
assert_eq "0" "$(cat "$T/rc")" "confirmed and approved by a second person: the run goes on"
assert_contains "$(cat "$T/screen")" "approvals: 2 needed: yours and 1 more person"
assert_contains "$(cat "$T/screen.waiting")" "approve/quorum: waiting for 1 more approval" "the progress line says what it waits for"
assert_eq "changed" "$(cat "$T/log")" "the step ran"

n=$(ls "$S/runs" | wc -l)
assert_exit 2 "$RB_BIN" -f "$RB" execute --reason "no terminal" </dev/null
assert_contains "$RB_ERR" "execute needs --yes when standard input is not a terminal"
assert_eq "$n" "$(ls "$S/runs" | wc -l)" "no run was begun"
