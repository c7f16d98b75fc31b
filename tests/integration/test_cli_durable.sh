#!/usr/bin/env bash
# The first run on a fresh state_dir creates state_dir/runs and the run folder: every new
# directory entry up to the state_dir is fsync'd, so a power cut cannot take the journal's
# folder away after its lines were fsync'd. strace shows the fsync calls.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

command -v strace >/dev/null || rb_skip "no strace"
T=$(rb_tmpdir)
RB=$T/runbook.yaml
cat >"$RB" <<YAML
version: 1
name: durable
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Step one
    run: ["true"]
YAML
# LeakSanitizer cannot run under ptrace: leaks are checked by the other tests.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
  strace -f -qq -e trace=openat,fsync -o "$T/trace" "$RB_BIN" -f "$RB" execute --reason durable --yes >/dev/null 2>&1 ||
  rb_fail "execute failed under strace"
run_dir=$(ls -d "$T"/state/runs/*)
# fsynced DIR: the directory was opened O_DIRECTORY and that fd fsync'd.
fsynced() {
  /usr/bin/python3 - "$T/trace" "$1" <<'PY'
import re, sys
want, fds, ok = sys.argv[2], {}, False
for line in open(sys.argv[1]):
    m = re.search(r'openat\(AT_FDCWD, "([^"]*)", ([^)]*)\)\s+= (\d+)', line)
    if m:  # fd numbers are reused: remember what each one is now
        fds[(line.split()[0], m.group(3))] = m.group(1) if 'O_DIRECTORY' in m.group(2) else None
    m = re.search(r'fsync\((\d+)\)\s+= 0', line)
    if m and fds.get((line.split()[0], m.group(1))) == want:
        ok = True
print("yes" if ok else "no")
PY
}
assert_eq "yes" "$(fsynced "$T/state")" "state_dir fsync'd (it gained 'runs')"
assert_eq "yes" "$(fsynced "$T/state/runs")" "runs fsync'd (it gained the run folder)"
assert_eq "yes" "$(fsynced "$run_dir")" "the run folder fsync'd (it gained the journal)"
echo "ok - new folders are fsync'd up to the state_dir"
