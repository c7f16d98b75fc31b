#!/usr/bin/env bash
# Children do not inherit the runbook's secrets (issue 10, red-team pass): every variable named by
# a `*_env` key of a target is removed from the environment of `run` steps and `run` probes,
# unless a step names it in its `env:` without a value (then it gets ours). Steps run `env` into
# files and the files are read. No server needed.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
RB=$T/runbook.yaml
cat >"$RB" <<YAML
version: 1
name: child-secrets
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none", password_env: LEGACY_PGPASSWORD }
  new:    { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none", password_env: NEW_PGPASSWORD }
  mail:   { driver: smtp, url: "smtp://127.0.0.1:1", from: a@example.com, username_env: SMTP_USER, password_env: SMTP_PASSWORD }
  chat:   { driver: webhook, url_env: CHAT_WEBHOOK_URL }
restore:
  - name: Plain step
    run: [sh, -c, "env > $T/env-plain"]
    verify: { run: [sh, -c, "env > $T/env-probe; test -f $T/env-plain"] }
  - name: Step asking for one
    run: [sh, -c, "env > $T/env-asked"]
    env: { LEGACY_PGPASSWORD: , PAYROLL_MODE: legacy }
YAML

export LEGACY_PGPASSWORD=legacy-s3cret NEW_PGPASSWORD=new-s3cret SMTP_USER=mailer \
  SMTP_PASSWORD=mail-s3cret CHAT_WEBHOOK_URL=https://hooks.example.com/T000/s3cret \
  RB_PLAIN_VARIABLE=kept
"$RB_BIN" -f "$RB" execute --reason "secrets" --yes >"$T/out" 2>&1 || { cat "$T/out"; rb_fail "execute failed"; }

for f in env-plain env-probe env-asked; do
  [[ -s "$T/$f" ]] || rb_fail "$f was not written"
  assert_contains "$(cat "$T/$f")" "RB_PLAIN_VARIABLE=kept" "$f: other variables are inherited"
  for v in NEW_PGPASSWORD SMTP_USER SMTP_PASSWORD CHAT_WEBHOOK_URL; do
    assert_not_contains "$(cut -d= -f1 "$T/$f")" "$v" "$f: no $v"
  done
  # (the asking step's one line aside)
  assert_not_contains "$(grep -v '^LEGACY_PGPASSWORD=' "$T/$f")" "s3cret" "$f: no other secret value"
done
assert_not_contains "$(cut -d= -f1 "$T/env-plain")" "LEGACY_PGPASSWORD" "a step that did not ask has no LEGACY_PGPASSWORD"
assert_not_contains "$(cut -d= -f1 "$T/env-probe")" "LEGACY_PGPASSWORD" "a run probe has no LEGACY_PGPASSWORD"
assert_eq "LEGACY_PGPASSWORD=legacy-s3cret" "$(grep '^LEGACY_PGPASSWORD=' "$T/env-asked")" \
  "the step that named LEGACY_PGPASSWORD in its env: has it"
assert_eq "PAYROLL_MODE=legacy" "$(grep '^PAYROLL_MODE=' "$T/env-asked")" "and the value it set"
assert_not_contains "$(cat "$T/out")" "s3cret" "no secret in the output"
echo "ok - run steps and probes inherit no runbook secret unless a step names it"
