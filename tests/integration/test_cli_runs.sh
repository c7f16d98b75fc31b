#!/usr/bin/env bash
# `rollbackctl runs`: five real runs (failed, succeeded, succeeded then tampered with, interrupted,
# killed) listed newest first, each with the outcome, reason, initiator, start and finish that
# `status RUN_ID -o json` gives for it and its duration; a running run shows as running with its
# pid; a torn journal is flagged and a tampered one listed as unreadable with the reader's reason,
# not skipped. -q lists only the ids.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
RB=$T/runbook.yaml
cat >"$RB" <<YAML
version: 1
name: runs-test
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Step one
    run: [sh, -c, "echo one >> $T/log"]
  - name: Step two
    run: [sh, -c, "test -f $T/two-ok"]
  - name: Step three
    run: [sh, -c, "if [ -f $T/hold ]; then echo \$\$ > $T/three.pid; while [ ! -f $T/go ]; do sleep 0.05; done; fi"]
  - name: Step four
    run: [sh, -c, "echo four >> $T/log"]
YAML
wait_for() { local i; for ((i = 0; i < 400; i++)); do [ -s "$1" ] && return 0; sleep 0.05; done; rb_fail "timed out waiting for $1"; }
newest() { ls "$T/state/runs" | sort | tail -1; }

assert_exit 0 "$RB_BIN" -f "$RB" runs
assert_contains "$RB_OUT" "no runs yet in '$T/state'"
assert_exit 0 "$RB_BIN" -f "$RB" -o json runs
assert_eq "[]" "$(jq -c .runs <<<"$RB_OUT")" "no runs: an empty array"

assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "first: step two fails" --yes
r1=$(newest)
touch "$T/two-ok"
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "second: all good" --yes
r2=$(newest)
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "third: to be tampered with" --yes
r3=$(newest)

# fourth: interrupted (SIGINT while step three waits; the step finishes, the run journals it),
# and listed as running, with its pid, while it runs
touch "$T/hold"
"$RB_BIN" -f "$RB" execute --reason "fourth: interrupted" --yes >"$T/r4.out" 2>&1 &
pid=$!
wait_for "$T/three.pid"
r4=$(newest)
json=$("$RB_BIN" -f "$RB" -o json runs)
assert_eq "$r4 running $pid" "$(jq -r '.runs[0] | "\(.run_id) \(.outcome) \(.pid // "none")"' <<<"$json")" \
  "the run in progress: running, with its pid"
kill -INT "$pid"
# the interruption is acknowledged at once (on stderr); only then may the step end
for ((i = 0; i < 400; i++)); do grep -q "stops after the current action" "$T/r4.out" && break; sleep 0.05; done
grep -q "stops after the current action" "$T/r4.out" || rb_fail "SIGINT not acknowledged: $(cat "$T/r4.out")"
touch "$T/go"
rc=0; wait "$pid" || rc=$?
assert_eq 1 "$rc" "the interrupted run exits 1"

# fifth: killed mid-step: stopped
rm -f "$T/go" "$T/three.pid"
"$RB_BIN" -f "$RB" execute --reason "fifth: killed" --yes >/dev/null 2>&1 &
pid=$!
wait_for "$T/three.pid"
r5=$(newest)
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
kill -9 -- "-$(cat "$T/three.pid")" 2>/dev/null || true

# a torn last line (a crash mid-write) on run 2, a changed line (tampering) on run 3
printf '{"seq":99,"ts":"2026-' >>"$T/state/runs/$r2/journal.jsonl"
sed -i '1s/to be tampered with/nothing to see here/' "$T/state/runs/$r3/journal.jsonl"
grep -q "nothing to see here" "$T/state/runs/$r3/journal.jsonl" || rb_fail "run 3's journal not changed"

json=$("$RB_BIN" -f "$RB" -o json runs)
assert_eq "$r5 $r4 $r3 $r2 $r1" "$(jq -r '[.runs[].run_id] | join(" ")' <<<"$json")" "newest first"
assert_eq "stopped interrupted unreadable succeeded failed" "$(jq -r '[.runs[].outcome] | join(" ")' <<<"$json")" \
  "outcomes as status names them"
assert_eq "false false true false" \
  "$(jq -r '[.runs[] | select(.outcome != "unreadable") | .torn_tail] | join(" ")' <<<"$json")" \
  "only run 2's torn tail is flagged"
assert_contains "$(jq -r ".runs[2].journal_error" <<<"$json")" "is corrupt" "the tampered journal's reason"
assert_eq "null" "$(jq -r '.runs[2].reason' <<<"$json")" "nothing of a tampered journal is believed"

# every field but duration as status gives it for the same run
for r in "$r1" "$r2" "$r4" "$r5"; do
  st=$("$RB_BIN" -f "$RB" -o json status "$r")
  want=$(jq -c '{run_id, runbook, outcome, reason, severity, initiated_by, started, finished, run_error}' <<<"$st")
  got=$(jq -c --arg r "$r" '.runs[] | select(.run_id == $r) | {run_id, runbook, outcome, reason, severity, initiated_by, started, finished, run_error}' <<<"$json")
  assert_eq "$want" "$got" "run $r: the fields status shows"
done
assert_eq "second: all good" "$(jq -r ".runs[3].reason" <<<"$json")" "run 2's reason"
assert_eq "$(jq -r .initiated_by <<<"$("$RB_BIN" -f "$RB" -o json status "$r1")")" \
  "$(jq -r '.runs[4].initiated_by' <<<"$json")" "initiator"
[[ "$(jq -r '.runs[4].initiated_by' <<<"$json")" == *"$(id -un)"* ]] && rb_ok "the initiator is this user" \
  || rb_fail "initiator: $(jq -r '.runs[4].initiated_by' <<<"$json")"
# duration: run_started to run_finished, in milliseconds
/usr/bin/python3 - "$json" <<'PY' || rb_fail "durations: $json"
import json, sys
from datetime import datetime
rows = json.loads(sys.argv[1])["runs"]
ms = lambda t: datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000
for r in rows:
    if r["outcome"] in ("succeeded", "failed", "interrupted"):
        assert r["duration_ms"] == round(ms(r["finished"]) - ms(r["started"])), r
    elif r["outcome"] == "stopped":
        assert r["finished"] is None and r["duration_ms"] >= 0, r
PY
rb_ok "duration_ms is finished - started"

text=$("$RB_BIN" -f "$RB" runs)
assert_eq "RUN ID" "$(head -1 <<<"$text" | cut -c1-6)" "a header line"
assert_eq "$r5 $r4 $r3 $r2 $r1" "$(grep -o '^[0-9]\{8\}T[0-9]*Z-[0-9a-f]*' <<<"$text" | tr '\n' ' ' | sed 's/ $//')" \
  "text: newest first"
assert_contains "$(grep "^$r3" <<<"$text")" "unreadable"
assert_contains "$text" "journal: journal '$T/state/runs/$r3/journal.jsonl' is corrupt"
assert_contains "$(grep -A1 "^$r2" <<<"$text")" "its last line was torn by a crash"
assert_contains "$(grep "^$r1" <<<"$text")" "failed"
assert_contains "$(grep "^$r1" <<<"$text")" "first: step two fails"
assert_contains "$(grep "^$r4" <<<"$text")" "interrupted"

assert_exit 0 "$RB_BIN" -f "$RB" -q runs
assert_eq "$r5 $r4 $r3 $r2 $r1" "$(tr '\n' ' ' <<<"$RB_OUT" | sed 's/ $//')" "-q: only the ids, newest first"
assert_exit 2 "$RB_BIN" -f "$RB" runs --all
assert_contains "$RB_ERR" "unknown option '--all'"
assert_exit 5 "$RB_BIN" -f "$T/missing.yaml" runs
echo "ok - runs: newest first, outcomes and fields as status has them, torn and tampered journals shown"
