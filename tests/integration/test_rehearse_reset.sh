#!/usr/bin/env bash
# test_rehearse_reset: scripts/rehearse is a faithful rehearsal every time. A second rehearsal
# without --reset meets the world the first one left (payroll-api already at 0, DNS already at
# legacy); `--reset` puts every sandbox server back to the production-like state, so the third
# rehearsal (the README tour's, after its `--reset` line) scales payroll-api from 3 and switches
# DNS from the new system again. Runs in a sandbox
# of its own (RB_SANDBOX_DIR), beside any developer's .sandbox/, and removes it at the end.
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
command -v jq >/dev/null || rb_skip "jq is not installed"

T=$(rb_tmpdir)
export RB_SANDBOX_DIR="$T/sandbox" RB_REHEARSAL_RUNBOOK="$T/rehearsal.yaml" RB_BUILD_DIR
rb_on_exit "$RB_SOURCE_DIR/scripts/rehearse" --stop

rehearse() { "$RB_SOURCE_DIR/scripts/rehearse" --no-deps --no-build "$@" >"$T/out" 2>&1 || {
  tail -n 40 "$T/out"; rb_fail "scripts/rehearse $* failed"; }; }
latest_journal() { echo "$(ls -1d "$RB_SANDBOX_DIR"/state/runs/* | sort | tail -n 1)/journal.jsonl"; }
done_data() { jq -r --arg a "$1" "select(.event == \"done\" and .action == \$a) | .data.$2" "$(latest_journal)"; }

rehearse
assert_eq 3 "$(done_data freeze/scale-payroll-api original_replicas)" "first rehearsal: payroll-api scaled from 3"
assert_eq "new-app.example.test." "$(done_data restore/point-payroll-dns-at-legacy old)" \
  "first rehearsal: DNS switched away from the new system"
assert_contains "$(cat "$T/out")" "verification passed"
assert_contains "$(cat "$T/out")" "2 mail(s) received by the SMTP sink" \
  "the rehearsal mailed leadership and staff (verification passed, nothing lost)"
assert_contains "$(cat "$T/out")" "1 chat post(s) received by the webhook receiver"
# ... and began with prepare, the nightly readiness report: on the sandbox every check is READY;
# its JUnit copy, read by a real XML parser, has a passing testcase for each, and the assets set
# it wrote checks out (sha256sum -c)
assert_contains "$(cat "$T/out")" "prepare    exit 0" "prepare: every check READY on the sandbox"
/usr/bin/python3 - "$RB_SANDBOX_DIR/prepare-junit.xml" >"$T/junit.check" 2>&1 <<'EOF' ||
import sys, xml.etree.ElementTree as ET
suite = ET.parse(sys.argv[1]).getroot().find("testsuite")
names = [c.get("name") for c in suite.findall("testcase")]
want = ["backup.exists", "backup.intact", "backup.recent", "backup.restore_test",
        "permissions.new", "permissions.legacy", "permissions.cluster",
        "channel.new", "channel.legacy", "channel.cluster", "channel.dns", "channel.mail",
        "channel.chat", "channel.metrics", "sync.dry", "contacts", "assets"]
assert sorted(names) == sorted(want), names
assert suite.get("failures") == "0" and not list(suite.iter("failure")), suite.get("failures")
print("ok")
EOF
  rb_fail "prepare's JUnit on the sandbox: $(cat "$T/junit.check")"
rb_ok "prepare's JUnit: 17 testcases, none failed"
assets=$(ls -1d "$RB_SANDBOX_DIR"/state/prepare/2* | tail -n 1)
(cd "$assets" && sha256sum --quiet -c MANIFEST.sha256) || rb_fail "the assets set of $assets does not check out"
[[ -s "$assets/break-glass.sh" && -s "$assets/snapshot.dump" ]] || rb_fail "no break-glass.sh or snapshot.dump in $assets"
rb_ok "prepare's assets set is whole (break-glass.sh, snapshot.dump, MANIFEST.sha256)"

rehearse
assert_eq 0 "$(done_data freeze/scale-payroll-api original_replicas)" \
  "without --reset the stand-in keeps what the last run did (payroll-api already at 0)"

# The README's tour, line by line as a person would paste it (pointed at this test's sandbox):
# every line works; `resume` says there is nothing to resume, as the tour says, and exits 0. Its
# first line is `scripts/rehearse --reset --no-run`: the tour's execute then meets the
# production-like state again (the third rehearsal of this test).
sed -n '/^## A short tour/,/^## /p' "$RB_SOURCE_DIR/README.md" | sed -n '/^```sh$/,/^```$/p' |
  sed '1d;$d' | sed 's/[[:space:]]*#.*$//' | grep -v '^[[:space:]]*$' |
  sed "s# /tmp/# $T/#g; s#config/rehearsal.yaml#$RB_REHEARSAL_RUNBOOK#g; s#\$PWD/build#$RB_BUILD_DIR#g" >"$T/tour.sh"
assert_contains "$(cat "$T/tour.sh")" "rollbackctl execute"
n=0
while IFS= read -r line; do
  n=$((n + 1))
  rc=0
  (cd "$RB_SOURCE_DIR" && eval "$line") >"$T/tour.out" 2>&1 </dev/null || rc=$?
  # lines that set the environment must be carried to the next ones
  case $line in export\ *) eval "$line" ;; esac
  if [[ "$line" == "rollbackctl resume" ]]; then
    assert_eq 0 "$rc" "tour line $n: '$line' exits 0 (the run succeeded)"
    assert_contains "$(cat "$T/tour.out")" "nothing to resume"
  elif (( rc != 0 )); then
    tail -n 20 "$T/tour.out"
    rb_fail "tour line $n: '$line' exited $rc"
  fi
  [[ "$line" != *"--reset"* ]] || assert_contains "$(cat "$T/tour.out")" "resetting the sandbox servers"
  if [[ "$line" == *"rollbackctl execute"* ]]; then
    assert_contains "$(cat "$T/tour.out")" "scaled from 3 to 0" \
      "tour line $n: execute starts from the production-like state"
    assert_contains "$(cat "$T/tour.out")" "verification passed"
    assert_eq 1 "$(ls -1 "$RB_SANDBOX_DIR/state/runs" | wc -l | tr -d ' ')" "--reset forgot the earlier runs"
    assert_eq 3 "$(done_data freeze/scale-payroll-api original_replicas)" "after --reset: payroll-api at 3 again"
    assert_eq "new-app.example.test." "$(done_data restore/point-payroll-dns-at-legacy old)" \
      "after --reset: DNS pointed at the new system again"
    assert_eq 5335 "$(done_data freeze/records-at-risk total)" \
      "after --reset: the data was reloaded (records at risk again)"
  fi
done <"$T/tour.sh"
assert_eq "$(grep -c . "$T/tour.sh")" "$n" "every tour line ran"
rb_ok "every rehearsal starts from the production-like state with --reset"
rb_ok "the README tour works line by line"

# break-glass.sh, against the sandbox: from the production-like state again, the night's prepare
# writes it, and the script alone (psql, kubectl, nsupdate) must leave legacy exactly as the tour's
# rollbackctl execute left it: every legacy table byte-equal, the payroll DNS record and the
# payroll-api / legacy worker replicas the same.
legacy_state() { # one line per legacy table: name and md5 of its rows in order; then DNS, replicas
  local tbl
  set -a # the sandbox's servers, as they are now (a --reset starts them afresh, on new ports)
  # shellcheck source=/dev/null
  source "$RB_SANDBOX_DIR/services/env"
  set +a
  for tbl in employees '"COMPENSATION"' payroll_history employee_tax scheduled_jobs system_config; do
    printf '%s %s\n' "$tbl" "$("$RB_TEST_PGBIN/psql" -X -At -h "$RB_TEST_PGHOST" -p "$RB_TEST_PGPORT" \
      -U "$RB_TEST_PGUSER" -d legacy -c "select count(*) || ' ' || md5(coalesce(string_agg(t::text, E'\n' order by t::text), '')) from $tbl t")"
  done
  printf 'dns %s\n' "$(dig +short -p "${RB_TEST_DNS_SERVER##*:}" "@${RB_TEST_DNS_SERVER%:*}" payroll.example.test CNAME)"
  printf 'replicas %s\n' "$(kubectl --kubeconfig "$RB_TEST_KUBECONFIG" -n payroll get deployments \
    -o jsonpath='{range .items[*]}{.metadata.name}={.spec.replicas} {end}')"
}
legacy_state >"$T/by-rollbackctl"
rehearse --reset --no-run
"$RB_BIN" -f "$RB_REHEARSAL_RUNBOOK" -o json prepare >"$T/prepare.json" </dev/null ||
  rb_fail "prepare after --reset: $(cat "$T/prepare.json")"
assets=$(rb_jget "$T/prepare.json" 'd["assets"]')
assert_contains "$(legacy_state | grep '^dns')" "new-app.example.test." \
  "after --reset the DNS record points at the new system again"
BREAK_GLASS_OUT="$T/bg-out" bash "$assets/break-glass.sh" </dev/null >"$T/bg.log" 2>&1 ||
  { tail -n 30 "$T/bg.log"; rb_fail "break-glass.sh against the sandbox failed"; }
legacy_state >"$T/by-script"
diff "$T/by-rollbackctl" "$T/by-script" >"$T/bg.diff" ||
  rb_fail "break-glass.sh left another legacy than rollbackctl: $(cat "$T/bg.diff")"
assert_contains "$(cat "$T/by-script")" "payroll-api=0" "the script froze the new system"
rb_ok "break-glass.sh against the sandbox: legacy tables, DNS and replicas as rollbackctl left them"
