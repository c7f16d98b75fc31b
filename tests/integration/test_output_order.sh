#!/usr/bin/env bash
# What an incident log gets (issue 10, "Output an incident log can trust"), with no server:
#  1. through a pipe (stdout and stderr into one, as `> log 2>&1` or CI): each action's `done`
#     line arrives as it happens, before the next action's side effect, in the journal's order,
#     between the stderr lines around it, a failing step's FAILED line too;
#  2. SIGINT during an action: the acknowledgement is on stderr while the action still runs, a
#     second SIGINT changes nothing, the action finishes, the run stops after it (exit 1,
#     `interrupted` journaled, the next step never runs);
#  3. the progress line: on a terminal (script(1)) a long step shows its name and elapsed time
#     and is cleared before the result; through a pipe nothing of it appears.
# Order is asserted, never durations: a python reader stamps each line as it comes.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
RB=$T/runbook.yaml
# step NAME SHELL: a restore run step
step() { printf '  - name: %s\n    run: [sh, -c, "%s"]\n' "$1" "$2"; }
# effect NAME: a shell command appending "NAME <wall clock>" to the effects file
effect() { printf 'echo %s $(date +%%s.%%N) >> %s/effects' "$1" "$T"; }
{
    cat <<YAML
version: 1
name: output-order
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
YAML
    step "One" "$(effect one)"
    step "Two" "sleep 1; $(effect two)"
    step "Three" "sleep 1; $(effect three)"
    step "Four" "sleep 1; $(effect four); exit 3"
} >"$RB"
assert_exit 0 "$RB_BIN" -f "$RB" validate

# stamp.py FIFO OUT: each line read from FIFO as "<wall clock> <line>" in OUT, as soon as read.
# OUT exists once the reader is up: a reader still starting would stamp early lines late.
cat >"$T/stamp.py" <<'PY'
import sys, time
open(sys.argv[2], "w").close()
with open(sys.argv[1], "rb") as src, open(sys.argv[2], "a") as out:
    for line in iter(src.readline, b""):
        out.write("%.6f %s\n" % (time.time(), line.decode(errors="replace").rstrip("\n")))
        out.flush()
PY
# reader FIFO OUT: start a stamping reader of FIFO and wait until it is ready
reader() {
    rm -f "$1" "$2"
    mkfifo "$1"
    /usr/bin/python3 "$T/stamp.py" "$1" "$2" &
    for _ in $(seq 200); do [[ -e "$2" ]] && return 0; sleep 0.05; done
    rb_fail "the stamping reader did not start"
}

# --- 1. through one pipe ---------------------------------------------------------------------
reader "$T/pipe" "$T/log"
rc=0
"$RB_BIN" -f "$RB" execute --reason "order" --yes >"$T/pipe" 2>&1 || rc=$?
wait $!
assert_eq 1 "$rc" "the last step failed: exit 1 (through the pipe)"
journal=$(ls "$T"/state/runs/*/journal.jsonl)
assert_eq "restore/four" "$(jq -r 'select(.event == "failed") | .action' "$journal")" "step four failed"
/usr/bin/python3 - "$T/log" "$T/effects" "$journal" <<'PY' || rb_fail "the piped output is not in the order things happened"
import json, sys
log = [l.rstrip("\n").split(" ", 1) for l in open(sys.argv[1])]
effects = dict(l.split() for l in open(sys.argv[2]))
journal = [json.loads(l) for l in open(sys.argv[3])]

def at(pred, what):
    for i, (t, text) in enumerate(log):
        if pred(text):
            return i, float(t)
    sys.exit("no line for %s in:\n%s" % (what, "\n".join(x[1] for x in log)))

names = ["one", "two", "three", "four"]
result = {}
for n in names:
    word = "FAILED" if n == "four" else "done"
    result[n] = at(lambda s, n=n, w=word: s.startswith(w) and "restore/%s " % n in s + " ", "%s %s" % (word, n))
    start = at(lambda s, n=n: s.strip().startswith("restore/%s:" % n), "start of " + n)
    # the stderr line saying the action begins comes before its result, in the same pipe
    assert start[0] < result[n][0], "start line of %s after its result" % n
# each result line arrived before the next action's side effect happened
for a, b in zip(names, names[1:]):
    assert result[a][1] < float(effects[b]), "the result of %s arrived after %s acted" % (a, b)
    assert result[a][0] < result[b][0]
    # and the next action's start line comes after this one's result: interleaved, not grouped
    assert result[a][0] < at(lambda s, b=b: s.strip().startswith("restore/%s:" % b), b)[0]
# the order of the results is the journal's
order = [e["action"].split("/")[1] for e in journal
         if e["event"] in ("done", "failed") and e["phase"] == "restore"]
assert order == names, order
# the error comes last, after every result
err = at(lambda s: s.startswith("rollbackctl: error:"), "the error")
assert err[0] > result["four"][0]
PY
rb_ok "each result line arrived when it happened, interleaved with stderr, in the journal's order"
assert_not_contains "$(cat "$T/log")" $'\033[K' "no progress drawing in a pipe"

# --- 2. SIGINT while an action runs ------------------------------------------------------------
{
    sed -n '1,/^restore:/p' "$RB"
    step "Slow" "touch $T/slow-started; sleep 2; $(effect slow)"
    step "Never" "touch $T/never"
} >"$T/sig.yaml"
rm -f "$T/effects"
reader "$T/errpipe" "$T/sigerr"
stamper=$!
"$RB_BIN" -f "$T/sig.yaml" execute --reason "signal" --yes 2>"$T/errpipe" >"$T/sigout" &
pid=$!
for _ in $(seq 100); do [[ -e "$T/slow-started" ]] && break; sleep 0.05; done
[[ -e "$T/slow-started" ]] || rb_fail "the slow step never started"
kill -INT "$pid"
for _ in $(seq 100); do grep -q "stops after the current action" "$T/sigerr" 2>/dev/null && break; sleep 0.02; done
kill -INT "$pid" # the second one: changes nothing
rc=0
wait "$pid" || rc=$?
wait "$stamper"
assert_eq 1 "$rc" "an interrupted run exits 1"
/usr/bin/python3 - "$T/sigerr" "$T/effects" <<'PY' || rb_fail "the acknowledgement did not come while the action ran"
import sys
log = [l.rstrip("\n").split(" ", 1) for l in open(sys.argv[1])]
slow = float(open(sys.argv[2]).read().split()[1])
first = [float(t) for t, s in log if "interrupt (SIGINT): the run stops after the current action" in s]
again = [float(t) for t, s in log if "interrupt (SIGINT): still finishing the current action" in s]
assert first and again, "\n".join(s for _, s in log)
assert first[0] < slow, "acknowledged only after the action ended"
assert any("another Ctrl-C changes nothing" in s for _, s in log)
PY
rb_ok "SIGINT acknowledged on stderr at once, while the action still ran; the second one said so"
sigjournal=$(ls -t "$T"/state/runs/*/journal.jsonl | head -n 1)
assert_eq "done" "$(jq -r 'select(.action == "restore/slow" and (.event == "done" or .event == "failed")) | .event' "$sigjournal")" \
    "the action in progress finished"
assert_eq 1 "$(grep -c '"event":"interrupted"' "$sigjournal")" "interrupted journaled"
assert_eq "interrupted" "$(jq -r 'select(.event == "run_finished") | .data.outcome' "$sigjournal")" "outcome"
[[ ! -e "$T/never" ]] || rb_fail "the step after the interruption ran"
rb_ok "the run stopped after the action"
assert_contains "$(cat "$T/sigerr")" "interrupted before 'restore/never'"

# --- 3. the progress line ----------------------------------------------------------------------
{
    sed -n '1,/^restore:/p' "$RB"
    step "Slow" "sleep 2"
} >"$T/tty.yaml"
script -qefc "$(printf '%q ' "$RB_BIN" --no-color -f "$T/tty.yaml" execute --reason tty --yes)" /dev/null >"$T/tty.out" 2>&1
assert_contains "$(cat "$T/tty.out")" $'\r\033[K| restore/slow: running sh -c \'sleep 2\' (1s)' \
    "on a terminal: the step's name, what it does, the elapsed time"
assert_contains "$(cat "$T/tty.out")" $'\r\033[Kdone    restore/slow' "cleared before the result line"
"$RB_BIN" -f "$T/tty.yaml" execute --reason notty --yes >"$T/notty.out" 2>&1
assert_not_contains "$(cat "$T/notty.out")" "restore/slow (" "no progress when not a terminal"
assert_not_contains "$(cat "$T/notty.out")" $'\033' "no escape codes when not a terminal"
assert_contains "$(cat "$T/notty.out")" "done    restore/slow"

# --- 4. the log's reader goes away ---------------------------------------------------------------
# `execute | tee log` and Ctrl-C: tee dies too, and the next result line meets a closed pipe. The
# run must not die of SIGPIPE between actions: it goes on, journals every action and its end.
{
    sed -n '1,/^restore:/p' "$RB"
    step "First" "true"
    step "Second" "sleep 1; touch $T/second-ran"
} >"$T/pipe.yaml"
rc=0
"$RB_BIN" -f "$T/pipe.yaml" execute --reason "reader gone" --yes 2>/dev/null | head -c 1 >/dev/null || rc=$?
pipejournal=$(ls -t "$T"/state/runs/*/journal.jsonl | head -n 1)
for _ in $(seq 100); do grep -q '"run_finished"' "$pipejournal" && break; sleep 0.1; done
[[ -e "$T/second-ran" ]] || rb_fail "the run died when its output's reader went away"
assert_eq "succeeded" "$(jq -r 'select(.event == "run_finished") | .data.outcome' "$pipejournal")" \
    "a closed stdout does not kill the run (SIGPIPE ignored); run_finished journaled"
