#!/usr/bin/env bash
# Resume after an edit of the runbook: action ids come from the step's name alone, so a step
# inserted before the others, or a done step removed, changes no other step's id and nothing
# done runs again; a done step that was only renamed is recognised by its fingerprint. Each restore step appends its name to a log file (what was applied, how often);
# the fourth step fails until a flag file exists. The journal's "started" lines after "resumed"
# say which actions the resumed attempt applied. No server is needed.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)

# runbook FILE STEP...: a runbook whose restore section is the named steps, in that order.
runbook() {
    local file=$1 step
    shift
    cat >"$file" <<YAML
version: 1
name: resume-edit
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
YAML
    for step in "$@"; do
        case $step in
        four) printf '  - name: Step four\n    run: [sh, -c, "echo four >> %s/log; test -f %s/four-ok"]\n' "$T" "$T" ;;
        # the same command as "two" under another name, and another command under that name
        two-renamed) printf '  - name: Pay run two\n    run: [sh, -c, "echo two >> %s/log"]\n' "$T" ;;
        two-changed) printf '  - name: Pay run two\n    run: [sh, -c, "echo two-changed >> %s/log"]\n' "$T" ;;
        *) printf '  - name: Step %s\n    run: [sh, -c, "echo %s >> %s/log"]\n' "$step" "$step" "$T" ;;
        esac >>"$file"
    done
}

# Actions the last attempt of the latest run started, in order, one per line.
started_since_resume() {
    local journal
    journal=$(ls -d "$T"/state/runs/* | tail -1)/journal.jsonl
    jq -r 'select(.event == "resumed" or .event == "started") | .event + " " + .action' "$journal" |
        awk '/^resumed/ { n = 0; delete a; next } { a[n++] = $2 } END { for (i = 0; i < n; i++) print a[i] }' |
        tr '\n' ' '
}

# 1. Three steps done, the fourth fails; a step inserted first; resume runs the new one and the fourth.
runbook "$T/runbook.yaml" one two three four
assert_exit 1 "$RB_BIN" -f "$T/runbook.yaml" execute --reason "resume edit" --yes
assert_eq "one two three four " "$(tr '\n' ' ' <"$T/log")" "first attempt: three steps done, the fourth failed"
"$RB_BIN" -f "$T/runbook.yaml" -o json status >"$T/status.json"
assert_eq "restore/step-one restore/step-two restore/step-three restore/step-four" \
    "$(rb_jget "$T/status.json" '" ".join(a["name"] for a in d["actions"] if a["phase"] == "restore")')" "ids from the names alone"

runbook "$T/runbook.yaml" zero one two three four
touch "$T/four-ok"
"$RB_BIN" -f "$T/runbook.yaml" resume >"$T/out" 2>&1 || { cat "$T/out"; rb_fail "resume failed"; }
assert_eq "one two three four zero four " "$(tr '\n' ' ' <"$T/log")" \
    "resume applied the inserted step and the failed one, none of the done ones again"
assert_eq "restore/step-zero restore/step-four " "$(started_since_resume)" \
    "the journal: the resumed attempt started only the new step and the unfinished one"
assert_contains "$(cat "$T/out")" "changed since run"
journal=$(ls -d "$T"/state/runs/* | tail -1)/journal.jsonl
assert_eq 1 "$(jq -r 'select(.event == "runbook_changed") | .event' "$journal" | wc -l | tr -d ' ')" \
    "the edit is journaled once"
assert_eq "succeeded" "$(jq -r 'select(.event == "run_finished") | .data.outcome' "$journal" | tail -1)" "the resumed run succeeded"

# 2. A done step removed, nothing renamed: resume re-runs nothing that was done.
rm -f "$T/log" "$T/four-ok"
runbook "$T/runbook.yaml" one two three four
assert_exit 1 "$RB_BIN" -f "$T/runbook.yaml" execute --reason "resume edit, removal" --yes
assert_eq "one two three four " "$(tr '\n' ' ' <"$T/log")" "second run: the fourth step failed"
runbook "$T/runbook.yaml" one three four
touch "$T/four-ok"
"$RB_BIN" -f "$T/runbook.yaml" resume >"$T/out2" 2>&1 || { cat "$T/out2"; rb_fail "resume after a removal failed"; }
assert_eq "one two three four four " "$(tr '\n' ' ' <"$T/log")" "only the failed step ran again"
assert_eq "restore/step-four " "$(started_since_resume)" "the journal: only the unfinished step started"

# 3. A done step renamed (its command unchanged): recognised by its fingerprint, not run again;
#    journaled done under its new id with the old one beside it.
rm -f "$T/log" "$T/four-ok"
runbook "$T/runbook.yaml" one two three four
assert_exit 1 "$RB_BIN" -f "$T/runbook.yaml" execute --reason "resume edit, rename" --yes
runbook "$T/runbook.yaml" one two-renamed three four
touch "$T/four-ok"
"$RB_BIN" -f "$T/runbook.yaml" resume >"$T/out3" 2>&1 || { cat "$T/out3"; rb_fail "resume after a rename failed"; }
assert_eq "one two three four four " "$(tr '\n' ' ' <"$T/log")" "the renamed done step did not run again"
assert_eq "restore/step-four " "$(started_since_resume)" "the journal: only the unfinished step started"
assert_contains "$(cat "$T/out3")" "restore/pay-run-two: already done as 'restore/step-two'"
journal=$(ls -d "$T"/state/runs/* | tail -1)/journal.jsonl
assert_eq "restore/step-two" \
    "$(jq -r 'select(.action == "restore/pay-run-two" and .event == "done") | .data.renamed_from' "$journal")" \
    "journaled done under the new id, with the old id"
"$RB_BIN" -f "$T/runbook.yaml" -o json status >"$T/status3.json"
assert_eq "done" "$(rb_jget "$T/status3.json" '[a["state"] for a in d["actions"] if a["name"] == "restore/pay-run-two"][0]')" \
    "status shows the renamed step done"

# 4. Renamed and changed: a new step, applied.
rm -f "$T/log" "$T/four-ok"
runbook "$T/runbook.yaml" one two three four
assert_exit 1 "$RB_BIN" -f "$T/runbook.yaml" execute --reason "resume edit, rename and change" --yes
runbook "$T/runbook.yaml" one two-changed three four
touch "$T/four-ok"
"$RB_BIN" -f "$T/runbook.yaml" resume >"$T/out4" 2>&1 || { cat "$T/out4"; rb_fail "resume after a change failed"; }
assert_eq "one two three four two-changed four " "$(tr '\n' ' ' <"$T/log")" "a renamed step that also changed runs"

# 5. Two names with one slug cannot make one id: the loader refuses them.
runbook "$T/runbook.yaml" one three four
printf '  - name: step-four\n    run: [true]\n' >>"$T/runbook.yaml"
assert_exit 5 "$RB_BIN" -f "$T/runbook.yaml" validate
assert_contains "$RB_ERR" "runbook.yaml:14:5: error: restore step 'step-four' and 'Step four' (line 12) would both have the action id 'restore/step-four'"
echo "ok - resume after an edit: inserted and removed steps rename nothing, done steps stay done"
