#!/usr/bin/env bash
# The DNS server down at restore's dns step (issue 15 "Faults"), with a private BIND named on a
# free port (so it can be stopped without disturbing the shared one): the run stops cleanly at
# that step, exit 1 naming the step, its runbook line and the server, nothing after it done; the
# server started again (same zone files), `resume` finishes: the record read back with dig is the
# new one, each step applied once.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
export PATH=$PATH:/usr/sbin
command -v named >/dev/null || rb_fail "named not found (bind9: scripts/install-deps)"
command -v tsig-keygen >/dev/null || rb_fail "tsig-keygen not found (bind9-utils: scripts/install-deps)"
command -v dig >/dev/null || rb_fail "dig not found (bind9-dnsutils: scripts/install-deps)"

T=$(rb_tmpdir)
D=$T/named
mkdir -p "$D"
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# the zone, key and config of the shared server (scripts/services.d/bind.sh), in a folder of our own
source "$RB_SOURCE_DIR/scripts/services.d/bind.sh"
tsig-keygen -a hmac-sha256 rollback-key >"$D/rollback.key"
svc_bind_write_zone "$D"
svc_bind_write_config "$D" "$PORT"

# named in the foreground, its log in a file; started returns once it says "running"
named_start() {
  local i
  : >"$D/named.log"
  setsid named -g -n 1 -c "$D/named.conf" </dev/null >>"$D/named.log" 2>&1 &
  echo $! >"$D/pid"
  for ((i = 0; i < 200; i++)); do
    grep -q 'running$' "$D/named.log" && return 0
    kill -0 "$(cat "$D/pid")" 2>/dev/null || break
    sleep 0.1
  done
  rb_fail "named did not start: $(tail -5 "$D/named.log")"
}
named_stop() {
  local pid
  pid=$(cat "$D/pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || true
  # named is our child: wait returns once it has exited (and released the port)
  wait "$pid" 2>/dev/null || true
  rm -f "$D/pid"
}
named_start
rb_on_exit named_stop
served() { dig +norec +short +time=2 +tries=1 -p "$PORT" @127.0.0.1 payroll.example.test. CNAME; }
assert_eq "new-app.example.test." "$(served)" "the zone starts on the new system"

RB=$T/runbook.yaml
cat >"$RB" <<YAML
$(rb_runbook_header dns-down "$T/state")
  dns: { driver: rfc2136, server: "127.0.0.1:$PORT", zone: example.test., tsig_key_file: $D/rollback.key, timeout: 2s }
restore:
  - name: Step one
    run: [sh, -c, "echo one >> $T/log"]
  - name: Point payroll DNS at legacy
    dns: { target: dns, name: payroll, type: CNAME, data: legacy-app, ttl: 60 }
  - name: Step three
    run: [sh, -c, "echo three >> $T/log"]
YAML
assert_exit 0 "$RB_BIN" -f "$RB" validate

# --- the server down when the run reaches the dns step ---------------------------------------------
# Step one stops the server: the pre-flight has seen it up, the dns step finds it gone.
sed -i "s|run: \[sh, -c, \"echo one >> $T/log\"\]|run: [sh, -c, \"echo one >> $T/log; kill \$(cat $D/pid); until grep -q exiting $D/named.log; do sleep 0.1; done\"]|" "$RB"
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "dns down" --yes
assert_contains "$RB_ERR" "runbook.yaml:10: restore/point-payroll-dns-at-legacy:" "the error names the runbook line and the step"
assert_contains "$RB_ERR" "no answer from DNS server '127.0.0.1:$PORT' within 2s" "and the server, within the deadline"
assert_contains "$RB_ERR" "HINT: check that the server runs" "with a hint"
assert_eq "one" "$(paste -sd' ' "$T/log")" "nothing after the dns step ran"
J=$(ls "$T"/state/runs/*/journal.jsonl)
assert_contains "$(grep '"action":"restore/point-payroll-dns-at-legacy"' "$J")" '"event":"failed"' "the dns step journaled as failed"
named_stop

# --- the server up again: resume finishes, the record is right --------------------------------------
named_start
assert_eq "new-app.example.test." "$(served)" "the record was not changed while the server was down"
assert_exit 0 "$RB_BIN" -f "$RB" resume
assert_contains "$RB_OUT" "payroll.example.test. CNAME new-app.example.test. -> legacy-app.example.test." "resume made the change"
assert_eq "legacy-app.example.test." "$(served)" "dig: payroll points at legacy"
assert_eq "one three" "$(paste -sd' ' "$T/log")" "step one not run again, step three once"
assert_exit 0 "$RB_BIN" -f "$RB" -o json status
printf '%s\n' "$RB_OUT" >"$T/status.json"
assert_eq "succeeded" "$(rb_jget "$T/status.json" 'd["outcome"]')" "the run succeeded"
