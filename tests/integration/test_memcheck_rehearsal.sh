#!/usr/bin/env bash
# valgrind memcheck on a rehearsal execute (issue 15, "Memory"): the whole rollback (assess,
# approve, freeze, sync, restore, verify, communicate) against a sandbox of its own, rollbackctl
# under memcheck (--leak-check=full, definite leaks counted as errors, children not traced): the
# run succeeds, with 0 errors and 0 bytes definitely lost. The binary of an ASan build cannot run
# under valgrind: there the test skips (scripts/test leaves it out of its ASan pass).
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/integration/rehearsal_lib.sh"
command -v valgrind >/dev/null || rb_fail "valgrind is not installed (scripts/install-deps)"
if nm "$RB_BIN" 2>/dev/null | grep '__asan_init' >/dev/null; then
  rb_skip "an ASan build: valgrind cannot run it (the plain build's run is the one that counts)"
fi

T=$(rb_tmpdir)
rehearsal_start
vg=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --trace-children=no --child-silent-after-fork=yes --num-callers=30
    "--log-file=$T/vg.%p.log")
rehearsal_execute "$T/exec" "${vg[@]}"
log=$(ls "$T"/vg.*.log)
[[ $(wc -l <<<"$log") -eq 1 ]] || rb_fail "one valgrind log expected, got: $log"
if ((REH_RC != 0)); then
  tail -n 30 "$T/exec.err"
  grep -A30 -m3 "^==[0-9]*== [A-Z].*\(Invalid\|uninitialised\|definitely\)" "$log" | head -n 80 || :
  rb_fail "execute under valgrind exited $REH_RC (99: memcheck found errors; log $log)"
fi
rb_ok "execute under memcheck exited 0"
assert_contains "$(cat "$log")" "ERROR SUMMARY: 0 errors from 0 contexts" "memcheck: 0 errors"
grep -Eq "definitely lost: 0 bytes in 0 blocks|All heap blocks were freed" "$log" &&
  rb_ok "memcheck: 0 bytes definitely lost" || rb_fail "memcheck: $(grep 'definitely lost' "$log")"
echo "# $(grep -E 'total heap usage|definitely lost|indirectly lost|still reachable' "$log" | sed 's/^==[0-9]*== *//' | tr '\n' ';')"

# the run was real: it ended succeeded and verified, legacy got the rows, mail went out
assert_eq succeeded "$("$RB_BIN" -f "$REH_RUNBOOK" -o json status "$REH_RUN" | jq -r .outcome)" "the run succeeded"
assert_contains "$(cat "$T/exec.out")" "verification passed"
new_paid=$(rehearsal_psql new "select count(*) from employee_payments where status = 'completed' and created_at >= '$RB_SANDBOX_CUTOVER'")
leg_paid=$(rehearsal_psql legacy "select count(*) from payroll_history where created_date >= '${RB_SANDBOX_CUTOVER%Z}'")
assert_eq "$new_paid" "$leg_paid" "every payment made since cutover is in legacy ($new_paid)"
assert_eq 2 "$(grep -l "Message-ID: <$REH_RUN\." "$RB_TEST_SMTP_DIR"/*.eml | wc -l | tr -d ' ')" "two mails in the sink"
