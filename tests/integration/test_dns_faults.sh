#!/usr/bin/env bash
# The rfc2136 driver against answers BIND does not give on demand (tests/fakes/dns_fake.py, one
# mode per zone): a truncated UDP answer retried over TCP; NOTZONE, SERVFAIL and BADTIME turned
# into clear messages; an unsigned answer and one with a forged MAC rejected although they say
# NOERROR (a spoofed "done" must never pass), as is one whose TSIG record only carries an error; an update accepted but not applied caught by the
# read-back. Every failure exits 1 and names the step and runbook line.
# Servers other than BIND (the fake answering as they do): PowerDNS's bare NOTAUTH to a bad key,
# secret or clock, and to an update its policy forbids; Knot's BADKEY to an update its ACL forbids
# after the signed read passed; PowerDNS's REFUSED for an A record where a CNAME is. Each gets its
# own message, and the record served (read with dig) is the one the fake started with.
# A record that already has the wanted value and TTL is not updated again (no UPDATE reaches the
# fake).
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
export PATH=$PATH:/usr/sbin
command -v tsig-keygen >/dev/null || rb_fail "tsig-keygen not found (bind9-utils: scripts/install-deps)"

T=$(rb_tmpdir)
tsig-keygen -a hmac-sha256 fake-key >"$T/fake.key"
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/python3 "$RB_SOURCE_DIR/tests/fakes/dns_fake.py" "$PORT" "$T/fake.key" >"$T/fake.log" 2>&1 &
echo $! >"$T/fake.pid"
stop_fake() { kill "$(cat "$T/fake.pid")" 2>/dev/null; wait "$(cat "$T/fake.pid")" 2>/dev/null; return 0; }
rb_on_exit stop_fake
for ((i = 0; i < 50; i++)); do grep -q listening "$T/fake.log" && break; sleep 0.1; done
grep -q listening "$T/fake.log" || rb_fail "dns_fake did not start: $(cat "$T/fake.log")"

run_mode() { # MODE EXPECTED_EXIT [TYPE DATA]
  cat >"$T/$1.yaml" <<YAML
version: 1
name: dns-faults
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state-$1
targets:
  dns: { driver: rfc2136, server: "127.0.0.1:$PORT", zone: $1.test., tsig_key_file: $T/fake.key, timeout: 3s }
restore:
  - name: Point payroll DNS at legacy
    dns: { target: dns, name: payroll, type: ${3:-CNAME}, data: ${4:-legacy-app}, ttl: 60 }
YAML
  assert_exit "$2" "$RB_BIN" -f "$T/$1.yaml" execute --reason "dns faults" --yes
  if [[ "$2" != 0 ]]; then
    assert_contains "$RB_ERR" "$1.yaml:8: restore/point-payroll-dns-at-legacy:" "$1: names the line and step"
  fi
}

updates() { grep -c "dns_fake: update $1 " "$T/fake.log" || true; }
served() { dig +norec +short -p "$PORT" @127.0.0.1 "payroll.$1" CNAME; }

# The fake serves payroll.ok.test. 60 CNAME legacy-app.ok.test.: already what the step wants.
run_mode ok 0
assert_contains "$RB_OUT" "payroll.ok.test. CNAME already points at legacy-app.ok.test. (ttl 60)"
assert_eq 0 "$(updates ok.test.)" "the record already right: no UPDATE sent"

run_mode tc 0
assert_contains "$RB_OUT" "payroll.tc.test. CNAME already points at legacy-app.tc.test. (ttl 60)" "truncated over UDP, read over TCP"

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

# An unsigned NXDOMAIN is acted on as much as a NOERROR (the name would be created): it must be
# signed too, so the spoofed "no such name" stops the run before any UPDATE.
run_mode nxspoof 1
assert_contains "$RB_ERR" "the DNS response is not signed: expected a TSIG record for key 'fake-key.'" "nxspoof: refused"
assert_eq 0 "$(updates nxspoof.test.)" "nxspoof: no UPDATE sent on a spoofed NXDOMAIN"

run_mode ignored 1
assert_contains "$RB_ERR" "accepted the update, but 'payroll.ignored.test.' CNAME reads back as new-app.ignored.test., not legacy-app.ignored.test."

# PowerDNS: a bad secret, an unknown key or a skewed clock all get NOTAUTH without a TSIG record.
# The pre-flight's signed read is refused, so the run stops before any change: no UPDATE is sent.
command -v dig >/dev/null || rb_fail "dig not found (bind9-dnsutils: scripts/install-deps)"
run_mode pdnskey 1
assert_contains "$RB_ERR" "pre-flight: FAILED dns 'dns'"
assert_contains "$RB_ERR" "unable to read 'payroll.pdnskey.test.' CNAME: DNS server '127.0.0.1:$PORT' rejected TSIG key 'fake-key.' for the query for 'payroll.pdnskey.test.' CNAME (NOTAUTH, unsigned answer): it does not know the key, the secret differs, or our clock is off"
assert_contains "$RB_ERR" "HINT: check each: the key name and algorithm in tsig_key_file are the server's (unknown key); the secret is the server's (bad signature); this machine's clock is within 300 s of the server's (NTP)"
assert_not_contains "$RB_ERR" "not authoritative"
assert_eq 0 "$(updates pdnskey.test.)" "pdnskey: no UPDATE sent"
assert_eq "new-app.pdnskey.test." "$(served pdnskey.test.)" "pdnskey: record unchanged"

# PowerDNS: the signed read passes, the update gets a bare NOTAUTH: the key may not update.
run_mode pdnspolicy 1
assert_contains "$RB_ERR" "DNS server '127.0.0.1:$PORT' refused the update of 'payroll.pdnspolicy.test.' CNAME with TSIG key 'fake-key.' (NOTAUTH, unsigned answer): it accepts the key for queries, so its policy does not allow this update for this key"
assert_contains "$RB_ERR" "HINT: allow the key to update zone 'pdnspolicy.test.' on the server (PowerDNS: the zone's TSIG-ALLOW-DNSUPDATE metadata"
assert_eq 1 "$(updates pdnspolicy.test.)" "pdnspolicy: one UPDATE, not retried"
assert_eq "new-app.pdnspolicy.test." "$(served pdnspolicy.test.)" "pdnspolicy: record unchanged"

# Knot: the signed read passes, the update its ACL forbids gets BADKEY.
run_mode knotacl 1
assert_contains "$RB_ERR" "DNS server '127.0.0.1:$PORT' does not allow TSIG key 'fake-key.' to make the update of 'payroll.knotacl.test.' CNAME (NOTAUTH/BADKEY): it accepts the key for queries, so its policy does not allow this update for this key"
assert_contains "$RB_ERR" "HINT: allow the key to update CNAME records at 'payroll.knotacl.test.' in the server's policy (Knot: an acl with 'action: update' and this key on the zone"
assert_not_contains "$RB_ERR" "does not know TSIG key"
assert_eq 1 "$(updates knotacl.test.)" "knotacl: one UPDATE, not retried"
assert_eq "new-app.knotacl.test." "$(served knotacl.test.)" "knotacl: record unchanged"

# PowerDNS: an A record where a CNAME is gets REFUSED; the CNAME is named as the likely cause.
run_mode cnameref 1 A 192.0.2.10
assert_contains "$RB_ERR" "DNS server '127.0.0.1:$PORT' refused the update of 'payroll.cnameref.test.' A (REFUSED): 'payroll.cnameref.test.' holds a CNAME, and a CNAME cannot share its name with other data"
assert_contains "$RB_ERR" "HINT: remove the CNAME at 'payroll.cnameref.test.' first (a step of its own), or make this step change the CNAME instead"
assert_eq 1 "$(updates cnameref.test.)" "cnameref: one UPDATE, not retried"
assert_eq "new-app.cnameref.test." "$(served cnameref.test.)" "cnameref: the CNAME unchanged"
assert_eq "" "$(dig +norec +short -p "$PORT" @127.0.0.1 payroll.cnameref.test. A | grep -v '\.$' || true)" "cnameref: no A record added"
