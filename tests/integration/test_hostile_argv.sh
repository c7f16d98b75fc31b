#!/usr/bin/env bash
# Shell metacharacters in argv (issue 15): `$(...)`, backticks, `;`, `|`, `&&`, `>`, globs, `~`,
# `${VAR}`, quotes, a newline, an empty word and non-ASCII, in the arguments of a restore `run`
# step, its `verify` probe, a verify `run` check, a step's `env:` values, in the program path
# itself, and in the record data and templates of the exec DNS driver: each reaches the program
# as the exact bytes written, one argument per word, and nothing is executed (no shell anywhere).
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
export NO_COLOR=1

T=$(rb_tmpdir)
mkdir -p "$T/bin"
# the recorder: writes every argument after the label NUL-terminated to $T/calls/<label>, and
# $HOSTILE_ENV to $T/calls/<label>.env
REC="$T/bin/rec ord;\$(touch pwned-name) | \`touch pwned-name2\`"
cd "$T" # a relative touch would land here
cat >"$REC" <<EOF
#!/usr/bin/env bash
label=\$1; shift
mkdir -p "$T/calls"
printf '%s\\0' "\$@" >"$T/calls/\$label"
printf '%s' "\${HOSTILE_ENV-unset}" >"$T/calls/\$label.env"
# as the step's verify probe: not done until the step has run (else the step is skipped)
[[ \$label != probe || -e "$T/calls/step" ]]
EOF
chmod +x "$REC"

# the hostile words, each used as one argument
words=(
  "\$(touch $T/pwned1)"
  "\`touch $T/pwned2\`"
  "; touch $T/pwned3"
  "| touch $T/pwned4"
  "&& touch $T/pwned5 &"
  "> $T/pwned6"
  "$T/*"
  "~"
  "\${HOME}"
  "it's \"quoted\" \\ back"
  $'two\nlines'
  ""
  "--flag=ünïcødé 漢字"
)
# YAML double-quoted form of one word (backslash, quote and newline escaped)
yq() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  printf '"%s"' "$s"
}
argv_yaml() { # LABEL -> a flow list: [recorder, LABEL, words...]
  local out w
  out="[$(yq "$REC"), $1"
  for w in "${words[@]}"; do out+=", $(yq "$w")"; done
  echo "$out]"
}
printf '%s\0' "${words[@]}" >"$T/expected"

cat >"$T/dns_exec.sh" <<EOF
#!/usr/bin/env bash
mkdir -p "$T/calls"
printf '%s\\0' "\$@" >"$T/calls/dns"
EOF
chmod +x "$T/dns_exec.sh"
DNS_DATA="\$(touch $T/pwned7); \`touch $T/pwned8\` | touch $T/pwned9"

cat >"$T/runbook.yaml" <<YAML
version: 1
name: hostile-argv
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  dns:
    driver: exec
    zone: example.com.
    command: [$T/dns_exec.sh, "--data={{data}};touch $T/pwned10", "{{name}}", "{{data}}", "\$(touch $T/pwned11)"]
restore:
  - name: Run with hostile arguments
    run: $(argv_yaml step)
    env: { HOSTILE_ENV: $(yq "\$(touch $T/pwned12); \`touch $T/pwned13\`") }
    verify:
      run: $(argv_yaml probe)
  - name: Point DNS
    dns: { target: dns, name: "payroll", type: TXT, data: $(yq "$DNS_DATA"), ttl: 60 }
verify:
  - name: Check with hostile arguments
    run: $(argv_yaml check)
prepare:
  keep: 2
YAML

assert_exit 0 "$RB_BIN" -f "$T/runbook.yaml" validate
assert_exit 0 "$RB_BIN" -f "$T/runbook.yaml" execute --reason "hostile argv" --yes
for label in step probe check; do
  [[ -f "$T/calls/$label" ]] || rb_fail "$label: the recorder was not run"
  cmp -s "$T/expected" "$T/calls/$label" ||
    rb_fail "$label: arguments differ: $(od -c "$T/calls/$label" | head -20)"
  rb_ok "$label: ${#words[@]} hostile arguments reached the program byte for byte"
done
assert_eq "\$(touch $T/pwned12); \`touch $T/pwned13\`" "$(cat "$T/calls/step.env")" "env: value passed literally"
printf '%s\0' "--data=$DNS_DATA;touch $T/pwned10" "payroll.example.com." "$DNS_DATA" "\$(touch $T/pwned11)" >"$T/expected_dns"
cmp -s "$T/expected_dns" "$T/calls/dns" || rb_fail "dns exec: arguments differ: $(od -c "$T/calls/dns" | head -20)"
rb_ok "dns exec: record data and template words passed literally"
pwned=$(cd "$T" && ls -d pwned* 2>/dev/null || true)
assert_eq "" "$pwned" "nothing was executed: no pwned file"

# break-glass.sh (written by prepare) runs the same steps from bash: its quoting must hold too
rc=0; "$RB_BIN" -f "$T/runbook.yaml" prepare >"$T/prepare.out" 2>&1 || rc=$?
bg=$(ls "$T"/state/prepare/*/break-glass.sh)
[[ -x "$bg" ]] || rb_fail "prepare (exit $rc) wrote no break-glass.sh: $(tail -3 "$T/prepare.out")"
rm -rf "$T/calls"
assert_exit 0 bash "$bg"
for label in step probe check; do
  cmp -s "$T/expected" "$T/calls/$label" ||
    rb_fail "break-glass $label: arguments differ: $(od -c "$T/calls/$label" 2>&1 | head -20)"
  rb_ok "break-glass $label: the hostile arguments reached the program byte for byte"
done
assert_eq "\$(touch $T/pwned12); \`touch $T/pwned13\`" "$(cat "$T/calls/step.env")" "break-glass env: value passed literally"
cmp -s "$T/expected_dns" "$T/calls/dns" || rb_fail "break-glass dns exec: arguments differ: $(od -c "$T/calls/dns" | head -20)"
rb_ok "break-glass dns exec: passed literally"
pwned=$(cd "$T" && ls -d pwned* 2>/dev/null || true)
assert_eq "" "$pwned" "break-glass executed nothing: no pwned file"
echo "ok - shell metacharacters in argv reach the program as bytes"
