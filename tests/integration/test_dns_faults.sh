#!/usr/bin/env bash
# The rfc2136 driver against answers BIND does not give on demand (tests/fakes/dns_fake.py, one
# mode per zone): a truncated UDP answer retried over TCP; NOTZONE, SERVFAIL and BADTIME turned
# into clear messages; an unsigned answer and one with a forged MAC rejected although they say
# NOERROR (a spoofed "done" must never pass), as is one whose TSIG record only carries an error; an update accepted but not applied caught by the
# read-back. Every failure exits 1 and names the step and runbook line.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
export PATH=$PATH:/usr/sbin
command -v tsig-keygen >/dev/null || rb_fail "tsig-keygen not found (bind9-utils: scripts/install-deps)"

T=$(rb_tmpdir)
tsig-keygen -a hmac-sha256 fake-key >"$T/fake.key"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 "$RB_SOURCE_DIR/tests/fakes/dns_fake.py" "$PORT" "$T/fake.key" >"$T/fake.log" 2>&1 &
echo $! >"$T/fake.pid"
stop_fake() { kill "$(cat "$T/fake.pid")" 2>/dev/null; wait "$(cat "$T/fake.pid")" 2>/dev/null; return 0; }
rb_on_exit stop_fake
for ((i = 0; i < 50; i++)); do grep -q listening "$T/fake.log" && break; sleep 0.1; done
grep -q listening "$T/fake.log" || rb_fail "dns_fake did not start: $(cat "$T/fake.log")"

run_mode() { # MODE EXPECTED_EXIT
  cat >"$T/$1.yaml" <<YAML
version: 1
name: dns-faults
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state-$1
targets:
  dns: { driver: rfc2136, server: "127.0.0.1:$PORT", zone: $1.test., tsig_key_file: $T/fake.key, timeout: 3s }
restore:
  - name: Point payroll DNS at legacy
    dns: { target: dns, name: payroll, type: CNAME, data: legacy-app, ttl: 60 }
YAML
  assert_exit "$2" "$RB_BIN" -f "$T/$1.yaml" execute --reason "dns faults" --yes
  if [[ "$2" != 0 ]]; then
    assert_contains "$RB_ERR" "$1.yaml:8: restore/point-payroll-dns-at-legacy:" "$1: names the line and step"
  fi
}

run_mode ok 0
assert_contains "$RB_OUT" "payroll.ok.test. CNAME legacy-app.ok.test. -> legacy-app.ok.test."

run_mode tc 0
assert_contains "$RB_OUT" "payroll.tc.test. CNAME legacy-app.tc.test. -> legacy-app.tc.test." "truncated over UDP, answered over TCP"

run_mode notzone 1
assert_contains "$RB_ERR" "the name is outside zone 'notzone.test.' (NOTZONE)"

run_mode servfail 1
assert_contains "$RB_ERR" "failed to process the update of 'payroll.servfail.test.' CNAME (SERVFAIL)"
assert_contains "$RB_ERR" "HINT: see the server's log"

run_mode badtime 1
assert_contains "$RB_ERR" "rejected our request time (NOTAUTH/BADTIME)"
assert_contains "$RB_ERR" "HINT: synchronise the clocks (NTP)"

run_mode unsigned 1
assert_contains "$RB_ERR" "the DNS response is not signed: expected a TSIG record for key 'fake-key.'"

run_mode forged 1
assert_contains "$RB_ERR" "the DNS response's TSIG signature does not verify with key 'fake-key.'"

# A TSIG record that only reports an error (no MAC) must not stand in for a signature on a NOERROR
# answer: the read before the change (and the read-back) would otherwise believe a spoofer.
run_mode errspoof 1
assert_contains "$RB_ERR" "reports TSIG error BADSIG for key 'fake-key.'"

run_mode ignored 1
assert_contains "$RB_ERR" "accepted the update, but 'payroll.ignored.test.' CNAME reads back as new-app.ignored.test., not legacy-app.ignored.test."
