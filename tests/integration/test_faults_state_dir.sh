#!/usr/bin/env bash
# Faults of the state_dir's disk (issue 15 "Faults"), on real file systems (tmpfs mounts; the
# tests run as root, in CI too, so this never skips):
#  - the disk fills up mid-run (a step fills a 1 MiB tmpfs): the run stops with exit 1 and a
#    clear message, every line journaled before the fault is still there, byte for byte, the
#    chain is valid (`status` reads it, exit 0), and after space is freed `resume` finishes the
#    run: each step applied once;
#  - the state_dir is read-only (the tmpfs remounted ro): execute and resume stop at once with exit
#    1, a message saying so and a hint, nothing applied, nothing written; status still reads it.
# No server needed.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

[[ $(id -u) == 0 ]] || rb_fail "needs root to mount a tmpfs (the tests run as root, CI too)"
T=$(rb_tmpdir)
MNT=$T/mnt
mkdir -p "$MNT"
mount -t tmpfs -o size=1m,mode=0700 rb-faults "$MNT" || rb_fail "cannot mount a tmpfs on '$MNT'"
rb_on_exit umount -l "$MNT"

RB=$T/runbook.yaml
cat >"$RB" <<YAML
version: 1
name: state-dir-faults
cutover: 2026-11-01T00:00:00Z
state_dir: $MNT/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Step one
    run: [sh, -c, "echo one >> $T/log"]
  - name: Fill the disk
    run: [sh, -c, "echo two >> $T/log; cp $MNT/state/runs/*/journal.jsonl $T/journal.before; dd if=/dev/zero of=$MNT/filler bs=4k 2>/dev/null; test -s $MNT/filler"]
    verify: { run: [grep, -qx, two, $T/log] }
  - name: Step three
    run: [sh, -c, "echo three >> $T/log"]
YAML
assert_exit 0 "$RB_BIN" -f "$RB" validate

# --- disk full mid-run: a clean stop, nothing journaled lost, resume finishes ------------------
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "disk full" --yes
# The line or the head beside it (whichever did not fit) cannot be written: the run stops there.
errline=$(grep '^rollbackctl: error: ' <<<"$RB_ERR" || true)
assert_contains "$errline" "journal '$MNT/state/runs/" "the error names the journal"
assert_contains "$errline" "No space left on device" "and why"
assert_contains "$RB_ERR" "HINT: fix the cause, then 'rollbackctl resume" "and what to do"
assert_eq "one two" "$(paste -sd' ' "$T/log")" "steps one and two applied, step three not"
J=$(ls "$MNT"/state/runs/*/journal.jsonl)
[[ -s "$T/journal.before" ]] || rb_fail "the step did not copy the journal"
n=$(wc -c <"$T/journal.before")
cmp -n "$n" "$T/journal.before" "$J" || rb_fail "the journal lost or changed lines written before the disk filled"
rb_ok "every line journaled before the disk filled is there, byte for byte ($n bytes)"
assert_eq "" "$(tail -c 1 "$J" | tr -d '\n')" "the journal ends with a whole line"
assert_exit 0 "$RB_BIN" -f "$RB" -o json status
printf '%s\n' "$RB_OUT" >"$T/status.json"
assert_contains "$(rb_jget "$T/status.json" '[a["state"] for a in d["actions"] if a["name"] == "restore/step-one"]')" "done" \
  "status reads the chain: step one done"
assert_not_contains "$RB_ERR" "corrupt" "the journal is not corrupt"

rm -f "$MNT/filler"
assert_exit 0 "$RB_BIN" -f "$RB" resume
assert_eq "one two three" "$(paste -sd' ' "$T/log")" "resume: step two not applied again (its verify passed), step three once"
assert_exit 0 "$RB_BIN" -f "$RB" -o json status
printf '%s\n' "$RB_OUT" >"$T/status.json"
assert_eq "succeeded" "$(rb_jget "$T/status.json" 'd["outcome"]')" "the run succeeded after resume"
assert_exit 0 "$RB_BIN" -f "$RB" resume
assert_contains "$RB_ERR" "already finished (succeeded); nothing to resume" "nothing left to resume (exit 0), the journal read whole"

# --- read-only state_dir: a clear message with a hint, nothing applied or written --------------
# A run that stops at step two (until $T/two-ok exists) leaves something to resume.
rm -f "$T/log"
cat >"$RB" <<YAML
version: 1
name: state-dir-faults
cutover: 2026-11-01T00:00:00Z
state_dir: $MNT/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Step one
    run: [sh, -c, "echo one >> $T/log"]
  - name: Step two
    run: [sh, -c, "echo two >> $T/log; test -f $T/two-ok"]
  - name: Step three
    run: [sh, -c, "echo three >> $T/log"]
YAML
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "stops at two" --yes
assert_eq "one two" "$(paste -sd' ' "$T/log")" "the run stopped at step two"
mount -o remount,ro "$MNT"
: >"$T/log"
before=$(find "$MNT" -printf '%p %s %T@\n' | sort | md5sum)
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "read-only" --yes
assert_contains "$RB_ERR" "state_dir '$MNT/state' is on a read-only file system" "execute says the state_dir is read-only"
assert_contains "$RB_ERR" "HINT: remount it read-write" "with a hint saying what to do"
assert_exit 1 "$RB_BIN" -f "$RB" resume
assert_contains "$RB_ERR" "state_dir '$MNT/state' is on a read-only file system" "resume says so too"
assert_contains "$RB_ERR" "HINT: remount it read-write" "with the hint"
assert_eq "" "$(cat "$T/log")" "nothing applied"
assert_eq "$before" "$(find "$MNT" -printf '%p %s %T@\n' | sort | md5sum)" "nothing written under the state_dir"
assert_exit 0 "$RB_BIN" -f "$RB" status
assert_contains "$RB_OUT" "failed" "status still reads the read-only state_dir"

# a state_dir that does not exist yet, on a read-only file system
sed "s|state_dir: $MNT/state|state_dir: $MNT/fresh/state|" "$RB" >"$T/fresh.yaml"
assert_exit 1 "$RB_BIN" -f "$T/fresh.yaml" execute --reason "read-only, new" --yes
assert_contains "$RB_ERR" "state_dir '$MNT/fresh/state' is on a read-only file system" "a new state_dir on a read-only disk"
assert_eq "" "$(cat "$T/log")" "nothing applied"

# writable again: resume finishes the run that was waiting
mount -o remount,rw "$MNT"
touch "$T/two-ok"
assert_exit 0 "$RB_BIN" -f "$RB" resume
assert_eq "two three" "$(paste -sd' ' "$T/log")" "resume: step two again (it had failed), then step three"
