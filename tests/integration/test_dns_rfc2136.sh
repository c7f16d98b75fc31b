#!/usr/bin/env bash
# The rfc2136 DNS driver against a real BIND 9 (scripts/services start bind), through the CLI with
# restore-only runbooks: plan reads the current value from the server; execute switches the record
# (checked with dig, an independent client) and journals the old value with its TTL; a rerun with
# the record already right sends no UPDATE (the zone's SOA serial stays), a TTL change alone does;
# names inside MX and SRV data without a trailing dot land relative to the zone; a wrong secret, an
# unknown key, a zone the server does not serve and a server that is down each fail with a clear
# message, exit 1 and the record left as it was.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require bind
command -v dig >/dev/null || rb_fail "dig not found (bind9-dnsutils: scripts/install-deps)"
command -v nsupdate >/dev/null || rb_fail "nsupdate not found (bind9-dnsutils: scripts/install-deps)"
export PATH=$PATH:/usr/sbin

T=$(rb_tmpdir)
HOST=${RB_TEST_DNS_SERVER%:*}
PORT=${RB_TEST_DNS_SERVER##*:}
ZONE=$RB_TEST_DNS_ZONE
NAME="payroll-$$-$RANDOM.${ZONE}"
SECRET=$(sed -n 's/.*secret "\(.*\)".*/\1/p' "$RB_TEST_TSIG_KEY_FILE")

dig_cname() { dig +norec +short -p "$PORT" "@$HOST" "$1" CNAME; }
serial() { dig +norec +short -p "$PORT" "@$HOST" "$ZONE" SOA | awk '{print $3}'; }

# The "new system" state, set with BIND's own client.
nsupdate -y "hmac-sha256:$RB_TEST_TSIG_KEY_NAME:$SECRET" <<EOF
server $HOST $PORT
zone $ZONE
update delete $NAME CNAME
update add $NAME 300 CNAME new-app.$ZONE
send
EOF
rb_on_exit nsupdate -y "hmac-sha256:$RB_TEST_TSIG_KEY_NAME:$SECRET" "$T/cleanup.nsupdate"
printf 'server %s %s\nzone %s\nupdate delete %s\nsend\n' "$HOST" "$PORT" "$ZONE" "$NAME" >"$T/cleanup.nsupdate"
assert_eq "new-app.$ZONE" "$(dig_cname "$NAME")" "starting state set with nsupdate"

runbook() { # FILE SERVER ZONE KEYFILE [TIMEOUT [TTL]]
  cat >"$1" <<YAML
version: 1
name: dns-test
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state-$(basename "$1" .yaml)
targets:
  dns:
    driver: rfc2136
    server: "$2"
    zone: $3
    tsig_key_file: $4
    timeout: ${5:-5s}
restore:
  - name: Point payroll DNS at legacy
    dns: { target: dns, name: $NAME, type: CNAME, data: legacy-app.$ZONE, ttl: ${6:-60} }
YAML
}

# 1. plan: the old value comes from the server, nothing changes.
runbook "$T/good.yaml" "$RB_TEST_DNS_SERVER" "$ZONE" "$RB_TEST_TSIG_KEY_FILE"
assert_exit 0 "$RB_BIN" -f "$T/good.yaml" plan
assert_contains "$RB_OUT" "new-app.$ZONE (ttl 300) -> legacy-app.$ZONE (ttl 60)" "plan shows old -> new read from the server"
assert_contains "$RB_OUT" "dns via 'dns' (rfc2136 $RB_TEST_DNS_SERVER): $NAME CNAME"
assert_eq "new-app.$ZONE" "$(dig_cname "$NAME")" "plan changed nothing"

# 2. execute switches the record; dig reads it back with the new TTL.
assert_exit 0 "$RB_BIN" -f "$T/good.yaml" execute --reason "dns test" --yes
assert_contains "$RB_OUT" "$NAME CNAME new-app.$ZONE -> legacy-app.$ZONE"
assert_eq "legacy-app.$ZONE" "$(dig_cname "$NAME")" "record switched to legacy"
assert_eq "60" "$(dig +norec +noall +answer -p "$PORT" "@$HOST" "$NAME" CNAME | awk '{print $2}')" "new ttl"
journal=$(cat "$T"/state-good/runs/*/journal.jsonl)
assert_contains "$journal" '"event":"progress","data":{"old":"new-app.'"$ZONE"'","old_ttl":300}' "old value and TTL journaled before the change"
assert_contains "$journal" '"old":"new-app.'"$ZONE"'","old_ttl":300,"new":"legacy-app.'"$ZONE"'","ttl":60,"changed":true' "the result keeps the old TTL"
assert_not_contains "$journal" "$SECRET" "the TSIG secret is not in the journal"
assert_not_contains "$RB_OUT$RB_ERR" "$SECRET" "the TSIG secret is not in the output"

# 3. a rerun with the record already right sends no UPDATE: BIND's SOA serial does not move.
serial_before=$(serial)
[[ "$serial_before" =~ ^[0-9]+$ ]] || rb_fail "no SOA serial read with dig: '$serial_before'"
assert_exit 0 "$RB_BIN" -f "$T/good.yaml" plan
assert_contains "$RB_OUT" "already points at legacy-app.$ZONE (ttl 60): nothing to change" "plan says nothing changes"
assert_exit 0 "$RB_BIN" -f "$T/good.yaml" execute --reason "dns test again" --yes
assert_contains "$RB_OUT" "$NAME CNAME already points at legacy-app.$ZONE (ttl 60)"
assert_eq "legacy-app.$ZONE" "$(dig_cname "$NAME")" "still legacy after a rerun"
assert_eq "$serial_before" "$(serial)" "no UPDATE sent: the SOA serial is unchanged"
journal=$(cat "$T"/state-good/runs/*/journal.jsonl)
assert_contains "$journal" '"changed":false' "the rerun journals that nothing changed"

# 3b. the same value with another TTL is an update (the TTL is part of the record put back).
runbook "$T/ttl.yaml" "$RB_TEST_DNS_SERVER" "$ZONE" "$RB_TEST_TSIG_KEY_FILE" 5s 120
assert_exit 0 "$RB_BIN" -f "$T/ttl.yaml" plan
assert_contains "$RB_OUT" "legacy-app.$ZONE (ttl 60) -> legacy-app.$ZONE (ttl 120)"
assert_exit 0 "$RB_BIN" -f "$T/ttl.yaml" execute --reason "dns ttl" --yes
assert_contains "$RB_OUT" "$NAME CNAME legacy-app.$ZONE: ttl 60 -> 120"
assert_eq "120" "$(dig +norec +noall +answer -p "$PORT" "@$HOST" "$NAME" CNAME | awk '{print $2}')" "the TTL changed"
(( $(serial) > serial_before )) && rb_ok "the TTL change was an UPDATE (serial moved)" || rb_fail "serial did not move"

# 3c. names inside MX and SRV data without a trailing dot are relative to the zone.
# (BIND refuses an MX or SRV whose in-zone target has no address: give the targets one.)
MX="mx-$$-$RANDOM"
SRV="_payroll._tcp.srv-$$-$RANDOM"
MAIL="mail-$$-$RANDOM"
APP="app-$$-$RANDOM"
printf 'server %s %s\nzone %s\nupdate delete %s.%s\nupdate delete %s.%s\nupdate delete %s.%s\nupdate delete %s.%s\nsend\n' \
  "$HOST" "$PORT" "$ZONE" "$MX" "$ZONE" "$SRV" "$ZONE" "$MAIL" "$ZONE" "$APP" "$ZONE" >"$T/cleanup-mx.nsupdate"
rb_on_exit nsupdate -y "hmac-sha256:$RB_TEST_TSIG_KEY_NAME:$SECRET" "$T/cleanup-mx.nsupdate"
nsupdate -y "hmac-sha256:$RB_TEST_TSIG_KEY_NAME:$SECRET" <<EOF
server $HOST $PORT
zone $ZONE
update add $MAIL.$ZONE 300 A 192.0.2.25
update add $APP.$ZONE 300 A 192.0.2.80
send
EOF
cat >"$T/mx.yaml" <<YAML
version: 1
name: dns-test
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state-mx
targets:
  dns: { driver: rfc2136, server: "$RB_TEST_DNS_SERVER", zone: $ZONE, tsig_key_file: $RB_TEST_TSIG_KEY_FILE }
restore:
  - name: Mail to legacy
    dns: { target: dns, name: $MX, type: MX, data: 10 $MAIL, ttl: 60 }
  - name: Service to legacy
    dns: { target: dns, name: $SRV, type: SRV, data: 0 5 8080 $APP, ttl: 60 }
YAML
assert_exit 0 "$RB_BIN" -f "$T/mx.yaml" validate
assert_exit 0 "$RB_BIN" -f "$T/mx.yaml" plan
assert_contains "$RB_OUT" "(none) -> 10 $MAIL.$ZONE (ttl 60)" "plan shows the MX name made absolute in the zone"
assert_contains "$RB_OUT" "(none) -> 0 5 8080 $APP.$ZONE (ttl 60)" "plan shows the SRV target made absolute in the zone"
assert_exit 0 "$RB_BIN" -f "$T/mx.yaml" execute --reason "dns mx" --yes
assert_eq "10 $MAIL.$ZONE" "$(dig +norec +short -p "$PORT" "@$HOST" "$MX.$ZONE" MX)" "MX exchange is relative to the zone"
assert_eq "0 5 8080 $APP.$ZONE" "$(dig +norec +short -p "$PORT" "@$HOST" "$SRV.$ZONE" SRV)" "SRV target is relative to the zone"
serial_before=$(serial)
assert_exit 0 "$RB_BIN" -f "$T/mx.yaml" execute --reason "dns mx again" --yes
assert_contains "$RB_OUT" "$MX.$ZONE MX already points at 10 $MAIL.$ZONE (ttl 60)" "the read-back compares the same absolute name"
assert_contains "$RB_OUT" "$SRV.$ZONE SRV already points at 0 5 8080 $APP.$ZONE (ttl 60)"
assert_eq "$serial_before" "$(serial)" "MX/SRV rerun: no UPDATE sent"

# Put the new-system value back so the failures below have something to leave alone.
nsupdate -y "hmac-sha256:$RB_TEST_TSIG_KEY_NAME:$SECRET" <<EOF
server $HOST $PORT
zone $ZONE
update delete $NAME CNAME
update add $NAME 300 CNAME new-app.$ZONE
send
EOF

# 4. the right key name with the wrong secret: BADSIG.
tsig-keygen -a hmac-sha256 "$RB_TEST_TSIG_KEY_NAME" >"$T/wrong.key"
runbook "$T/wrongsecret.yaml" "$RB_TEST_DNS_SERVER" "$ZONE" "$T/wrong.key"
assert_exit 1 "$RB_BIN" -f "$T/wrongsecret.yaml" execute --reason "dns test" --yes
assert_contains "$RB_ERR" "rejected the signature of TSIG key '$RB_TEST_TSIG_KEY_NAME.' (NOTAUTH/BADSIG)"
assert_contains "$RB_ERR" "wrongsecret.yaml:13: restore/point-payroll-dns-at-legacy" "error names the runbook line and step"
assert_contains "$RB_ERR" "restore/point-payroll-dns-at-legacy"
assert_eq "new-app.$ZONE" "$(dig_cname "$NAME")" "record unchanged after BADSIG"

# 5. a key the server does not know: BADKEY.
tsig-keygen -a hmac-sha256 unknown-key >"$T/unknown.key"
runbook "$T/badkey.yaml" "$RB_TEST_DNS_SERVER" "$ZONE" "$T/unknown.key"
assert_exit 1 "$RB_BIN" -f "$T/badkey.yaml" execute --reason "dns test" --yes
assert_contains "$RB_ERR" "does not know TSIG key 'unknown-key.' (NOTAUTH/BADKEY)"
assert_eq "new-app.$ZONE" "$(dig_cname "$NAME")" "record unchanged after BADKEY"

# 6. a zone the server does not serve: NOTAUTH (BIND) or REFUSED, named as such.
cat >"$T/other.yaml" <<YAML
version: 1
name: dns-test
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state-other
targets:
  dns: { driver: rfc2136, server: "$RB_TEST_DNS_SERVER", zone: not-served.test., tsig_key_file: $RB_TEST_TSIG_KEY_FILE }
restore:
  - name: Point payroll DNS at legacy
    dns: { target: dns, name: payroll.not-served.test., type: A, data: 192.0.2.10 }
YAML
assert_exit 1 "$RB_BIN" -f "$T/other.yaml" execute --reason "dns test" --yes
if [[ "$RB_ERR" == *"(NOTAUTH)"* ]]; then
  assert_contains "$RB_ERR" "is not authoritative for zone 'not-served.test.' (NOTAUTH)"
else
  assert_contains "$RB_ERR" "(REFUSED)"
fi
assert_exit 0 "$RB_BIN" -f "$T/other.yaml" plan
assert_contains "$RB_OUT" "(unknown: DNS server '$RB_TEST_DNS_SERVER' refused the query" "plan shows why the old value is unknown"

# 7. the server is down: a timeout naming the server, within the target's timeout.
down_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
runbook "$T/down.yaml" "127.0.0.1:$down_port" "$ZONE" "$RB_TEST_TSIG_KEY_FILE" 1s
start=$(date +%s)
assert_exit 1 "$RB_BIN" -f "$T/down.yaml" execute --reason "dns test" --yes
assert_contains "$RB_ERR" "no answer from DNS server '127.0.0.1:$down_port' within 1s"
(( $(date +%s) - start < 10 )) && rb_ok "gave up within the deadline" || rb_fail "took too long"

# 8. a key file that is missing: clear error, nothing sent.
runbook "$T/nokey.yaml" "$RB_TEST_DNS_SERVER" "$ZONE" "$T/no-such.key"
assert_exit 1 "$RB_BIN" -f "$T/nokey.yaml" execute --reason "dns test" --yes
assert_contains "$RB_ERR" "unable to read TSIG key file '$T/no-such.key'"
assert_eq "new-app.$ZONE" "$(dig_cname "$NAME")" "record unchanged at the end"
