#!/usr/bin/env bash
# The powerdns DNS driver against a real PowerDNS Authoritative server with its HTTP API
# (scripts/services start pdns): plan reads the current value through the API; execute replaces
# the RRset (checked with dig against pdns's DNS port) and journals the old value with its TTL; a
# rerun with the record already right sends no PATCH (the SOA serial, which PowerDNS bumps on every
# change, stays); an MX exchange without a trailing dot lands relative to the zone; a wrong API key, an
# unset api_key_env and an unknown zone fail with clear messages, exit 1, nothing changed; the key
# never shows up in output or journal. (An unset api_key_env fails execute with exit 1: the runbook is
# fine, the environment is not.) server_id is URL-escaped.
# prepare's channel.dns reads the zone with the key (READY with its serial) and changes nothing.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pdns
command -v dig >/dev/null || rb_fail "dig not found (bind9-dnsutils: scripts/install-deps)"

T=$(rb_tmpdir)
ZONE=$RB_TEST_PDNS_ZONE
NAME="payroll-$$-$RANDOM.${ZONE}"
api() { # METHOD BODY
  curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -X "$1" -H "X-API-Key: $RB_TEST_PDNS_API_KEY" \
    -H 'Content-Type: application/json' --data "$2" "$RB_TEST_PDNS_URL/api/v1/servers/localhost/zones/$ZONE"
}
set_cname() {
  api PATCH '{"rrsets":[{"name":"'"$NAME"'","type":"CNAME","ttl":300,"changetype":"REPLACE","records":[{"content":"'"$1"'","disabled":false}]}]}'
}
drop_name() { api PATCH '{"rrsets":[{"name":"'"$NAME"'","type":"CNAME","changetype":"DELETE"}]}' >/dev/null; }
dig_cname() { dig +norec +short -p "$RB_TEST_PDNS_DNS_PORT" @127.0.0.1 "$NAME" CNAME; }
serial() { dig +norec +short -p "$RB_TEST_PDNS_DNS_PORT" @127.0.0.1 "$ZONE" SOA | awk '{print $3}'; }

assert_eq "204" "$(set_cname "new-app.$ZONE")" "starting state set through the API with curl"
rb_on_exit drop_name
assert_eq "new-app.$ZONE" "$(dig_cname)" "starting state served"

runbook() { # FILE ZONE KEYVAR
  cat >"$1" <<YAML
version: 1
name: pdns-test
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state-$(basename "$1" .yaml)
targets:
  dns:
    driver: powerdns
    url: $RB_TEST_PDNS_URL
    zone: $2
    api_key_env: $3
    timeout: 5s
restore:
  - name: Point payroll DNS at legacy
    dns: { target: dns, name: $NAME, type: CNAME, data: legacy-app.$ZONE, ttl: 60 }
YAML
}

export PDNS_KEY=$RB_TEST_PDNS_API_KEY
runbook "$T/good.yaml" "$ZONE" PDNS_KEY
assert_exit 0 "$RB_BIN" -f "$T/good.yaml" plan
assert_contains "$RB_OUT" "new-app.$ZONE (ttl 300) -> legacy-app.$ZONE (ttl 60)" "plan shows the value read through the API"

assert_exit 0 "$RB_BIN" -f "$T/good.yaml" execute --reason "pdns test" --yes
assert_contains "$RB_OUT" "$NAME CNAME new-app.$ZONE -> legacy-app.$ZONE"
assert_eq "legacy-app.$ZONE" "$(dig_cname)" "record switched, served over DNS"
assert_not_contains "$RB_OUT$RB_ERR$(cat "$T"/state-good/runs/*/journal.jsonl)" "$RB_TEST_PDNS_API_KEY" \
  "the API key is in neither output nor journal"

journal=$(cat "$T"/state-good/runs/*/journal.jsonl)
assert_contains "$journal" '"event":"progress","data":{"old":"new-app.'"$ZONE"'","old_ttl":300}' "old value and TTL journaled before the change"

serial_before=$(serial)
[[ "$serial_before" =~ ^[0-9]+$ ]] || rb_fail "no SOA serial read with dig: '$serial_before'"
assert_exit 0 "$RB_BIN" -f "$T/good.yaml" plan
assert_contains "$RB_OUT" "already points at legacy-app.$ZONE (ttl 60): nothing to change"
assert_exit 0 "$RB_BIN" -f "$T/good.yaml" execute --reason "pdns test again" --yes
assert_contains "$RB_OUT" "$NAME CNAME already points at legacy-app.$ZONE (ttl 60)"
assert_eq "legacy-app.$ZONE" "$(dig_cname)" "a rerun leaves it as it is"
assert_eq "$serial_before" "$(serial)" "no PATCH sent: the SOA serial is unchanged"

# An MX exchange without a trailing dot is relative to the zone.
MX="mx-$$-$RANDOM.$ZONE"
drop_mx() { api PATCH '{"rrsets":[{"name":"'"$MX"'","type":"MX","changetype":"DELETE"}]}' >/dev/null; }
rb_on_exit drop_mx
cat >"$T/mx.yaml" <<YAML
version: 1
name: pdns-test
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state-mx
targets:
  dns: { driver: powerdns, url: $RB_TEST_PDNS_URL, zone: $ZONE, api_key_env: PDNS_KEY }
restore:
  - name: Mail to legacy
    dns: { target: dns, name: $MX, type: MX, data: 10 mail, ttl: 60 }
YAML
assert_exit 0 "$RB_BIN" -f "$T/mx.yaml" execute --reason "pdns mx" --yes
assert_eq "10 mail.$ZONE" "$(dig +norec +short -p "$RB_TEST_PDNS_DNS_PORT" @127.0.0.1 "$MX" MX)" "MX exchange is relative to the zone"
assert_exit 0 "$RB_BIN" -f "$T/mx.yaml" execute --reason "pdns mx again" --yes
assert_contains "$RB_OUT" "$MX MX already points at 10 mail.$ZONE (ttl 60)" "read-back compares the same absolute name"

set_cname "new-app.$ZONE" >/dev/null
export PDNS_WRONG=not-the-key
runbook "$T/wrongkey.yaml" "$ZONE" PDNS_WRONG
assert_exit 1 "$RB_BIN" -f "$T/wrongkey.yaml" execute --reason "pdns test" --yes
assert_contains "$RB_ERR" "PowerDNS API '$RB_TEST_PDNS_URL/api/v1/servers/localhost/zones/$ZONE' refused"
assert_contains "$RB_ERR" "401"
assert_eq "new-app.$ZONE" "$(dig_cname)" "unchanged after a wrong key"

runbook "$T/nokey.yaml" "$ZONE" PDNS_UNSET_$$
assert_exit 1 "$RB_BIN" -f "$T/nokey.yaml" execute --reason "pdns test" --yes
assert_contains "$RB_ERR" "environment variable 'PDNS_UNSET_$$' (api_key_env of target 'dns') is not set"

runbook "$T/nozone.yaml" "no-such-zone.org." PDNS_KEY
assert_exit 1 "$RB_BIN" -f "$T/nozone.yaml" execute --reason "pdns test" --yes
assert_contains "$RB_ERR" "zone 'no-such-zone.org.' not found"
assert_eq "new-app.$ZONE" "$(dig_cname)" "unchanged at the end"

# prepare's channel check: a GET of the zone with the API key (its serial said), changing nothing;
# with a wrong key, NOT_READY with the API's refusal
chan() { # FILE KEYVAR: "STATUS REASON" of channel.dns
  runbook "$1" "$ZONE" "$2"
  printf 'prepare:\n  channels: true\n  contacts: [{ role: DNS owner, email: dns@example.test }]\n' >>"$1"
  "$RB_BIN" -f "$1" -o json prepare >"$T/prepare.json" || true
  jq -r '.checks[] | select(.name == "channel.dns") | "\(.status) \(.reason)"' "$T/prepare.json"
}
serial_now=$(serial)
assert_contains "$(chan "$T/chan.yaml" PDNS_KEY)" "READY PowerDNS API '$RB_TEST_PDNS_URL/api/v1/servers/localhost/zones/$ZONE' answered with the API key: serial $serial_now" \
  "channel.dns READY: the zone read with the key"
assert_contains "$(chan "$T/chan-wrong.yaml" PDNS_WRONG)" "NOT_READY PowerDNS API '$RB_TEST_PDNS_URL/api/v1/servers/localhost/zones/$ZONE' refused the read of zone" \
  "channel.dns NOT_READY with a wrong key"
assert_eq "$serial_now" "$(serial)" "the channel checks changed nothing (the SOA serial)"

# server_id, zone and the rrset name are URL-escaped (issue 16): a '#' in server_id must reach the
# API as %23, not end the path as a fragment (the GET would then be of /servers/localhost, which
# answers 200, and the channel check would say READY for a server that does not exist)
runbook "$T/sid.yaml" "$ZONE" PDNS_KEY
sed -i 's|^    timeout: 5s$|    server_id: "localhost#x"\n&|' "$T/sid.yaml"
assert_contains "$(cat "$T/sid.yaml")" 'server_id: "localhost#x"'
printf 'prepare:\n  channels: true\n  contacts: [{ role: DNS owner, email: dns@example.test }]\n' >>"$T/sid.yaml"
assert_exit 1 "$RB_BIN" -f "$T/sid.yaml" -o json prepare
assert_contains "$(jq -r '.checks[] | select(.name == "channel.dns") | "\(.status) \(.reason)"' <<<"$RB_OUT")" \
  "NOT_READY PowerDNS API: zone '$ZONE' not found at '$RB_TEST_PDNS_URL/api/v1/servers/localhost%23x/zones/$ZONE' (404)" \
  "channel.dns: the server_id escaped, PowerDNS says it has no such server"
assert_exit 1 "$RB_BIN" -f "$T/sid.yaml" execute --reason "pdns escaped server id" --yes
assert_contains "$RB_ERR" "servers/localhost%23x/zones/$ZONE" "execute: the escaped server_id in the URL"
assert_eq "new-app.$ZONE" "$(dig_cname)" "unchanged with an unknown server_id"
