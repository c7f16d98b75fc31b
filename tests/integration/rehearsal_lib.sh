# shellcheck shell=bash disable=SC2034
# tests/integration/rehearsal_lib.sh: the rehearsal sandbox (scripts/rehearse) for one test, beside
# every other sandbox. Sourced after lib.sh (not test_*: ctest does not run it on its own).
#
#   rehearsal_start              set up a sandbox of the test's own in a folder of rb_tmpdir: its
#                                own servers ($REH_COMPONENTS), the data (RB_SANDBOX_EMPLOYEES
#                                employees, default 5,000), the setup hooks (the nightly backup)
#                                and the runbook, by `scripts/rehearse --no-run`; stopped and
#                                removed when the test exits. Then exported: REH_DIR (the
#                                sandbox), REH_RUNBOOK, REH_STATE (its state_dir),
#                                RB_SANDBOX_CUTOVER, and the sandbox servers' RB_TEST_* (rb_psql
#                                and friends now reach them)
#   rehearsal_execute OUT [CMD...]  run `execute --reason rehearsal --yes` (prefixed with CMD...,
#                                e.g. valgrind) with stdout/stderr in OUT.out/OUT.err, and give
#                                the second approval the runbook needs (a second person, as
#                                scripts/rehearse does) once the run waits for it; the exit code
#                                in REH_RC, the run's id in REH_RUN
#   rehearsal_psql DB SQL        psql on the sandbox's server, unaligned, tuples only
#
# REH_COMPONENTS (default "pg bind kube smtp webhook prometheus": what the runbook uses).
# The run waits for approval by polling `status` (a condition with a deadline, not a sleep).

REH_COMPONENTS=${REH_COMPONENTS:-pg bind kube smtp webhook prometheus}

rehearsal_start() {
  local t out
  command -v jq >/dev/null || rb_fail "jq is not installed (scripts/install-deps)"
  # the second approval speaks for another person, as `sudo rollbackctl approve` would
  ((EUID == 0)) || rb_skip "the rehearsal's second approval needs root (SUDO_USER)"
  t=$(rb_tmpdir)
  export RB_SANDBOX_DIR="$t/sandbox" RB_REHEARSAL_RUNBOOK="$t/rehearsal.yaml"
  export RB_SANDBOX_COMPONENTS=$REH_COMPONENTS RB_BUILD_DIR
  export RB_SANDBOX_CUTOVER=${RB_SANDBOX_CUTOVER:-2026-11-01T00:00:00Z}
  export REH_DIR=$RB_SANDBOX_DIR REH_RUNBOOK=$RB_REHEARSAL_RUNBOOK REH_STATE="$RB_SANDBOX_DIR/state"
  # RB_KEEP=1 (lib.sh) keeps the sandbox's servers too, for a post-mortem
  [[ "${RB_KEEP:-}" == 1 ]] || rb_on_exit "$RB_SOURCE_DIR/scripts/rehearse" --stop
  out="$t/rehearse.out"
  "$RB_SOURCE_DIR/scripts/rehearse" --no-deps --no-build --no-run >"$out" 2>&1 </dev/null ||
    { tail -n 30 "$out"; rb_fail "scripts/rehearse --no-run failed (see above)"; }
  [[ -s "$REH_RUNBOOK" ]] || rb_fail "scripts/rehearse wrote no runbook ($REH_RUNBOOK)"
  set -a
  # shellcheck source=/dev/null
  source "$RB_SANDBOX_DIR/services/env"
  set +a
  for c in $REH_COMPONENTS; do
    [[ " $RB_SERVICES " == *" $c "* ]] || rb_fail "the sandbox's '$c' did not start: $(grep -i error "$out" | head -n 3)"
  done
}

rehearsal_psql() {
  "$RB_TEST_PGBIN/psql" -X -At -v ON_ERROR_STOP=1 -h "$RB_TEST_PGHOST" -p "$RB_TEST_PGPORT" \
    -U "$RB_TEST_PGUSER" -d "$1" -c "$2"
}

# The newest run folder's name ("" when none).
rehearsal_latest_run() {
  ls -1 "$REH_STATE/runs" 2>/dev/null | sort | tail -n 1 || true
}

rehearsal_execute() {
  local out=$1 before pid id="" waiting n=0
  shift
  before=$(rehearsal_latest_run)
  REH_RC=0 REH_RUN=""
  "$@" "$RB_BIN" -f "$REH_RUNBOOK" execute --reason rehearsal --yes >"$out.out" 2>"$out.err" </dev/null &
  pid=$!
  # up to 600 s (valgrind is slow) for the run to wait for its second approval
  while ((n++ < 6000)); do
    id=$(rehearsal_latest_run)
    if [[ -n "$id" && "$id" != "$before" ]]; then
      waiting=$("$RB_BIN" -f "$REH_RUNBOOK" -o json status "$id" 2>/dev/null |
        jq -r '.waiting != null' 2>/dev/null) || waiting=false
      [[ "$waiting" == true ]] && break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ "$waiting" == true ]]; then
    SUDO_USER=rehearsal-approver "$RB_BIN" -f "$REH_RUNBOOK" approve "$id" \
      --comment "rehearsal: second person" >"$out.approve" 2>&1 </dev/null ||
      { cat "$out.approve"; rb_fail "the second approval of run $id failed"; }
  fi
  wait "$pid" || REH_RC=$?
  REH_RUN=$(rehearsal_latest_run)
  [[ "$REH_RUN" != "$before" ]] || REH_RUN=""
}
