#!/usr/bin/env bash
# The exec DNS driver: the target's argv gets {{name}} {{type}} {{data}} {{ttl}} {{zone}} substituted
# and runs without a shell (data with shell syntax reaches the program verbatim); a failing command
# fails the step with its exit status and last stderr line; plan shows the value cannot be read.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
cat >"$T/update_dns.sh" <<EOF
#!/usr/bin/env bash
# stand-in for a provider CLI: records its arguments, one per line
if [[ -e "$T/fail" ]]; then echo "provider: 401 unauthorized" >&2; exit 4; fi
printf '%s\n' "\$@" >"$T/calls"
env >"$T/env"
EOF
chmod +x "$T/update_dns.sh"

cat >"$T/runbook.yaml" <<YAML
version: 1
name: dns-exec-test
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=9 dbname=legacy", password_env: RB_DNS_EXEC_SECRET }
  dns:
    driver: exec
    zone: example.com.
    command: [$T/update_dns.sh, legacy, "--record={{name}}", "{{type}}", "{{data}}", "{{ttl}}", "{{zone}}", "{{other}}"]
restore:
  - name: Point payroll DNS at legacy
    dns: { target: dns, name: payroll, type: TXT, data: "\$(touch $T/pwned); mode=legacy", ttl: 60 }
YAML

assert_exit 0 "$RB_BIN" -f "$T/runbook.yaml" plan
assert_contains "$RB_OUT" "(unknown: driver 'exec' cannot read records) -> \$(touch $T/pwned); mode=legacy (ttl 60)"
[[ ! -e "$T/calls" ]] && rb_ok "plan ran nothing" || rb_fail "plan ran the command"

export RB_DNS_EXEC_SECRET="exec-secret-$RANDOM$RANDOM"
assert_exit 0 "$RB_BIN" -f "$T/runbook.yaml" execute --reason "exec dns" --yes
assert_eq "legacy|--record=payroll.example.com.|TXT|\$(touch $T/pwned); mode=legacy|60|example.com.|{{other}}" \
  "$(paste -sd'|' "$T/calls")" "argv substituted word by word"
[[ ! -e "$T/pwned" ]] && rb_ok "record data never reached a shell" || rb_fail "shell injection"
assert_not_contains "$(cat "$T/env")" "$RB_DNS_EXEC_SECRET" "the runbook's secrets stay out of the provider CLI's environment"
assert_contains "$(cat "$T/env")" "PATH=" "the rest of the environment is there"

touch "$T/fail"
rm -rf "$T/state"
assert_exit 1 "$RB_BIN" -f "$T/runbook.yaml" execute --reason "exec dns" --yes
assert_contains "$RB_ERR" "DNS command '$T/update_dns.sh' of target 'dns' exited with status 4: provider: 401 unauthorized"
assert_contains "$RB_ERR" "runbook.yaml:12: restore/point-payroll-dns-at-legacy"
