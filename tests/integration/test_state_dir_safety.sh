#!/usr/bin/env bash
# The state_dir keeps one writer and stays ours (issue 10, red-team pass): removing STATE/lock
# while a run holds it does not let a second `execute` in (exit 4); a symbolic link planted at
# STATE/lock or STATE/runs is refused and its target left as it was; a state_dir every user can
# write is refused with a hint. No server needed: the runbook's steps are `run` steps.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
RB=$T/runbook.yaml
S=$T/state
cat >"$RB" <<YAML
version: 1
name: state-dir-safety
cutover: 2026-11-01T00:00:00Z
state_dir: $S
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Hold
    run: [sh, -c, "echo \$\$ >> $T/log; touch $T/started; n=0; while [ ! -f $T/go ] && [ \$n -lt 600 ]; do sleep 0.05; n=\$((n+1)); done"]
YAML

# wait (bounded) for a file to appear
wait_for() {
  local n=0
  while [[ ! -e "$1" ]] && ((n < 600)); do sleep 0.05; n=$((n + 1)); done
  [[ -e "$1" ]] || rb_fail "timed out waiting for $1"
}

# --- the lock file removed under a running execute --------------------------------------------
"$RB_BIN" -f "$RB" execute --reason "first" --yes >"$T/out_a" 2>&1 &
pid_a=$!
rb_on_exit "kill $pid_a"
wait_for "$T/started"
rm -f "$S/lock"
rc=0; "$RB_BIN" -f "$RB" execute --reason "second" --yes >"$T/out_b" 2>&1 || rc=$?
assert_eq "4" "$rc" "a second execute is refused (exit 4) after the lock file was removed"
assert_contains "$(cat "$T/out_b")" "is locked by another rollbackctl process" "it says the state_dir is held"
assert_contains "$(cat "$T/out_b")" "do not remove the lock file" "and hints not to remove the lock"
rc=0; "$RB_BIN" -f "$RB" resume >"$T/out_r" 2>&1 || rc=$?
assert_eq "4" "$rc" "resume is refused too"
touch "$T/go"
rc=0; wait "$pid_a" || rc=$?
assert_eq "0" "$rc" "the first run finished"
assert_eq "1" "$(wc -l <"$T/log")" "the step ran once, by the first run only"
assert_eq "1" "$(ls "$S/runs" | wc -l)" "the refused runs made no run folder"
rm -f "$T/go" "$T/started" "$T/log"

# --- a symbolic link at STATE/lock ---------------------------------------------------------------
printf 'precious\n' >"$T/victim"
rm -f "$S/lock"
ln -s "$T/victim" "$S/lock"
rc=0; "$RB_BIN" -f "$RB" execute --reason "link" --yes >"$T/out_l" 2>&1 || rc=$?
assert_eq "1" "$rc" "execute refuses a symlinked lock (exit 1)"
assert_contains "$(cat "$T/out_l")" "lock '$S/lock' is a symbolic link; refusing to use it"
assert_contains "$(cat "$T/out_l")" "rm '$S/lock'" "the hint says what to remove"
assert_eq "precious" "$(cat "$T/victim")" "the link's target is untouched"
assert_eq "1" "$(ls "$S/runs" | wc -l)" "no run folder was made"
[[ ! -e "$T/log" ]] || rb_fail "a step ran behind a symlinked lock"
rm -f "$S/lock"

# --- a symbolic link at STATE/runs ---------------------------------------------------------------
mkdir "$T/elsewhere"
mv "$S/runs" "$T/runs.real"
ln -s "$T/elsewhere" "$S/runs"
rc=0; "$RB_BIN" -f "$RB" execute --reason "runs link" --yes >"$T/out_rl" 2>&1 || rc=$?
assert_eq "1" "$rc" "execute refuses a symlinked runs/ (exit 1)"
assert_contains "$(cat "$T/out_rl")" "'$S/runs' is a symbolic link; refusing to follow it"
assert_eq "" "$(ls -A "$T/elsewhere")" "nothing was written where the link points"
assert_eq "0" "$(stat -c %s "$S/lock")" "the lock was released"
rm "$S/runs"
mv "$T/runs.real" "$S/runs"

# --- a state_dir every user can write ------------------------------------------------------------
chmod 0777 "$S"
rc=0; "$RB_BIN" -f "$RB" execute --reason "open" --yes >"$T/out_w" 2>&1 || rc=$?
assert_eq "1" "$rc" "a world-writable state_dir is refused (exit 1)"
assert_contains "$(cat "$T/out_w")" "state_dir '$S' is writable by every user (mode 0777)"
assert_contains "$(cat "$T/out_w")" "chmod 700 '$S'" "the hint says how to fix it"
[[ ! -e "$T/log" ]] || rb_fail "a step ran in a world-writable state_dir"
chmod 0700 "$S"

# --- and the state_dir in order again: a run goes through --------------------------------------
touch "$T/go"
"$RB_BIN" -f "$RB" execute --reason "fine" --yes >"$T/out_ok" 2>&1 || { cat "$T/out_ok"; rb_fail "execute failed"; }
assert_eq "1" "$(wc -l <"$T/log")" "with the state_dir in order the run goes through"
echo "ok - the state_dir lock holds when its file is removed; links and open permissions are refused"
