#!/usr/bin/env bash
# A journal that cannot be written mid-run (disk full) stops the run as 'failed', never as
# 'planned', and applies nothing it could not journal. The write is made to fail with a file size
# limit (ulimit -f 1, SIGXFSZ ignored) placed just after the run_started line: the reason is
# padded so that run_started fits and phase_started does not. No server is needed.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
RB=$T/runbook.yaml
cat >"$RB" <<YAML
version: 1
name: journal-full
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Step one
    run: [sh, -c, "echo one >> $T/log"]
YAML

# Measure run_started with a one-letter reason (same user, host and paths as below; the pid may
# differ by a digit, which the 100 bytes of room absorb).
"$RB_BIN" -f "$RB" execute --reason x --yes >/dev/null 2>&1
first=$(head -1 "$T"/state/runs/*/journal.jsonl | wc -c)
rm -rf "$T/state" "$T/log"
pad=$((1024 - 100 - first))
reason="x$(head -c "$pad" /dev/zero | tr '\0' r)"

rc=0
( trap '' XFSZ; ulimit -f 1; exec "$RB_BIN" -f "$RB" -o json execute --reason "$reason" --yes ) >"$T/out" 2>"$T/err" || rc=$?
assert_eq "1" "$rc" "a journal that cannot be written fails the run"
assert_contains "$(cat "$T/err")" "unable to append to journal"
assert_eq "failed" "$(rb_jget "$T/out" 'd["outcome"]')" "the outcome says failed, not planned"
[ ! -e "$T/log" ] || rb_fail "step one was applied although its start could not be journaled"
rb_ok "nothing applied"
journal=$(ls "$T"/state/runs/*/journal.jsonl)
assert_eq "1" "$(wc -l <"$journal" | tr -d ' ')" "the journal holds run_started and no partial line"
assert_eq "" "$(tail -c 1 "$journal" | tr -d '\n')" "no bytes after run_started's newline"
echo "ok - a journal write failure stops the run as failed"
