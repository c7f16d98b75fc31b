#!/usr/bin/env bash
# A journal changed after it was written, on real runs: `status` and `resume` name the line (seq
# and byte offset) and exit 1, resume applies nothing and leaves the journal as it is; a journal
# whose tail was changed (the last line's outcome, the last two lines removed, a whole garbage line
# appended) is caught by the head kept beside it (journal.jsonl.head). What is not tampering goes
# on: a head one line behind (a crash between the append and the head write), and a journal from
# before heads (warned: its tail is unprotected). No server needed.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
RB=$T/runbook.yaml
cat >"$RB" <<YAML
version: 1
name: journal-integrity
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Step one
    run: [sh, -c, "echo one >> $T/log"]
  - name: Step two
    run: [sh, -c, "echo two >> $T/log; test -f $T/two-ok"]
YAML

# A run that fails at step two: resumable, 14 lines ending with run_finished (failed).
rc=0; "$RB_BIN" -f "$RB" execute --reason integrity --yes >"$T/out" 2>&1 || rc=$?
assert_eq "1" "$rc" "the run fails at step two"
RUN=$(ls "$T/state/runs")
J=$T/state/runs/$RUN/journal.jsonl
H=$J.head
cp "$J" "$T/journal.good"
cp "$H" "$T/head.good"
restore_good() { cp "$T/journal.good" "$J"; cp "$T/head.good" "$H"; }
[[ -f "$H" ]] || rb_fail "no head beside the journal"

# byte offset of line N (1-based) of the journal
offset() { head -n $(($1 - 1)) "$J" | wc -c | tr -d ' '; }
# edit the journal with a python snippet working on `lines` (the lines without newlines)
edit() {
  /usr/bin/python3 - "$J" "$1" <<'PY'
import hashlib, json, sys
path, code = sys.argv[1], sys.argv[2]
lines = open(path).read().split("\n")[:-1]
def rechain():
    for i in range(1, len(lines)):
        o = json.loads(lines[i]); o["prev"] = hashlib.sha256(lines[i-1].encode()).hexdigest()
        lines[i] = json.dumps(o, separators=(",", ":"))
exec(code)
open(path, "w").write("".join(l + "\n" for l in lines))
PY
}

# status and resume (latest and by id) refuse with the same place; nothing applied or cut
expect_corrupt() { # WHAT NEEDLE
  local what=$1 needle=$2 before
  before=$(sha256sum "$J")
  assert_exit 1 "$RB_BIN" -f "$RB" status "$RUN"
  assert_contains "$RB_ERR" "$needle" "$what: status names the line"
  assert_exit 1 "$RB_BIN" -f "$RB" status
  assert_contains "$RB_ERR" "$needle" "$what: status of the latest run"
  assert_exit 1 "$RB_BIN" -f "$RB" resume
  assert_contains "$RB_ERR" "run '$RUN' cannot be resumed: journal '$J' is corrupt" "$what: resume says corrupt"
  assert_contains "$RB_ERR" "$needle" "$what: resume names the line"
  assert_contains "$RB_ERR" "HINT: " "$what: resume's hint"
  assert_contains "$RB_ERR" "does not verify is not resumed" "$what: resume's hint says why"
  assert_not_contains "$RB_ERR" "no unfinished run" "$what: not 'nothing to resume'"
  assert_exit 1 "$RB_BIN" -f "$RB" resume "$RUN"
  assert_contains "$RB_ERR" "$needle" "$what: resume RUN_ID names the line"
  assert_eq "one two " "$(tr '\n' ' ' <"$T/log")" "$what: resume applied nothing"
  assert_eq "$before" "$(sha256sum "$J")" "$what: the journal was left as it was"
}

touch "$T/two-ok" # from here on, a resume that went ahead would run step two

# 1. a middle line changed: step one's done becomes failed; the next line's prev breaks
edit 'lines[10] = lines[10].replace("\"event\":\"done\"", "\"event\":\"failed\"")'
expect_corrupt "middle line changed" "is corrupt at seq 12 (byte offset $(offset 12)): hash chain broken"
assert_contains "$RB_ERR" "(the line before it, seq 11 at byte offset $(offset 11), was changed" "the changed line is named"
assert_contains "$RB_ERR" "tail -c +$(($(offset 11) + 1)) $J" "the hint shows where to look"
restore_good

# 2. a middle line deleted
edit 'del lines[9]'
expect_corrupt "middle line deleted" "is corrupt at seq 10 (byte offset $(offset 10)): hash chain broken"
restore_good

# 3. a line inserted that chains on from the one before it
edit 'o = json.loads(lines[10]); o["seq"] = 12; o["prev"] = hashlib.sha256(lines[10].encode()).hexdigest(); lines.insert(11, json.dumps(o, separators=(",", ":")))'
expect_corrupt "line inserted" "is corrupt at seq 13 (byte offset $(offset 13)): hash chain broken"
restore_good

# 4. the last line's outcome changed from failed to succeeded (the chain cannot see it)
edit 'lines[13] = lines[13].replace("\"outcome\":\"failed\"", "\"outcome\":\"succeeded\"")'
expect_corrupt "last line changed" "is corrupt at seq 14 (byte offset $(offset 14)): the line does not match the journal's head"
restore_good

# 5. the last two lines removed (step two's failure and the run's end)
edit 'del lines[12:]'
expect_corrupt "last two lines removed" "is corrupt after seq 12 (byte offset $(offset 12)): its head records 14 lines"
restore_good

# 6. the whole journal rewritten with a consistent chain after an edit: the head catches it
edit 'lines[10] = lines[10].replace("\"event\":\"done\"", "\"event\":\"failed\""); rechain()'
expect_corrupt "chain rewritten" "is corrupt at seq 14 (byte offset $(offset 14)): the line does not match the journal's head"
restore_good

# 7. a complete, newline-terminated garbage line appended: corruption, not a torn tail, not cut
printf 'garbage\n' >>"$J"
expect_corrupt "garbage line appended" "is corrupt at seq 15 (byte offset $(offset 15)): not a JSON object (a whole last line, so not one torn by a crash)"
restore_good

# 8. the head removed: the first line names it
rm "$H"
expect_corrupt "head removed" "its head '$H' is missing"
restore_good

# A torn last line (no newline): ignored by status, cut by resume, as before heads.
printf '{"seq":15,"ts":"2026-11-25T00:00:00.000Z","run_id":"x","ph' >>"$J"
assert_exit 0 "$RB_BIN" -f "$RB" status "$RUN"
assert_contains "$RB_OUT" "torn by a crash" "status of a torn journal"
restore_good

# A crash between the journal's fsync and the head's write: the head one line behind.
/usr/bin/python3 - "$J" "$H" <<'PY'
import hashlib, sys
lines = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
n = len(lines) - 1
head = '{"seq":%d,"hash":"%s","lines":%d,"bytes":%d}\n' % (
    n, hashlib.sha256(lines[n - 1]).hexdigest(), n, sum(len(l) + 1 for l in lines[:n]))
open(sys.argv[2], "w").write(head)
PY
assert_exit 0 "$RB_BIN" -f "$RB" -o json status "$RUN"
assert_eq "behind failed" "$(/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["journal_head"], d["outcome"])' "$RB_OUT")" \
  "status of a head one line behind"
restore_good

# A journal from before heads: no head, no "head" in its first line. Read, warned, resumed.
edit 'o = json.loads(lines[0]); del o["head"]; lines[0] = json.dumps(o, separators=(",", ":")); rechain()'
rm "$H"
assert_exit 0 "$RB_BIN" -f "$RB" status "$RUN"
assert_contains "$RB_OUT" "no head kept beside it" "status warns of a journal without head"
assert_exit 0 "$RB_BIN" -f "$RB" resume
assert_contains "$RB_ERR" "run '$RUN' was journaled without a head" "resume warns of a journal without head"
assert_eq "one two two " "$(tr '\n' ' ' <"$T/log")" "resume ran step two only"
[[ -f "$H" ]] || rb_fail "resume did not start keeping a head"
assert_exit 0 "$RB_BIN" -f "$RB" -o json status "$RUN"
assert_eq "ok succeeded" "$(/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["journal_head"], d["outcome"])' "$RB_OUT")" \
  "the resumed run's journal has its head"
# and now its tail is protected: the last two lines removed are caught
edit 'del lines[-2:]'
assert_exit 1 "$RB_BIN" -f "$RB" status "$RUN"
assert_contains "$RB_ERR" "is corrupt after seq" "the tail of the resumed journal is protected"
rb_ok "journal integrity: tampering named by seq and offset, crash states and old journals accepted"
