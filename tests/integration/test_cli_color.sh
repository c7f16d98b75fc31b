#!/usr/bin/env bash
# Colour only goes to terminals: an error log redirected to a file holds no escape codes even
# when standard output is a terminal; with both streams on a terminal errors are coloured, and
# NO_COLOR / --no-color turn it off. `script` gives the command a pseudo-terminal.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

command -v script >/dev/null || rb_skip "no 'script' (util-linux) for a pseudo-terminal"
T=$(rb_tmpdir)
RB=$T/runbook.yaml
cat >"$RB" <<YAML
version: 1
name: color-test
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Step one
    run: ["true"]
YAML
esc=$'\033'

script -qec "'$RB_BIN' -f '$RB' status nosuch 2>'$T/err'" /dev/null >/dev/null || true
assert_contains "$(cat "$T/err")" "error:" "the error went to the file"
assert_not_contains "$(cat "$T/err")" "$esc" "no escape codes in a redirected stderr"

script -qec "'$RB_BIN' -f '$RB' status nosuch" /dev/null >"$T/tty" 2>&1 || true
assert_contains "$(cat "$T/tty")" "${esc}[31merror:" "errors are red on a terminal"
script -qec "NO_COLOR=1 '$RB_BIN' -f '$RB' status nosuch" /dev/null >"$T/tty" 2>&1 || true
assert_not_contains "$(cat "$T/tty")" "$esc" "NO_COLOR"
script -qec "'$RB_BIN' --no-color -f '$RB' status nosuch" /dev/null >"$T/tty" 2>&1 || true
assert_not_contains "$(cat "$T/tty")" "$esc" "--no-color"
echo "ok - colour only on terminals"
