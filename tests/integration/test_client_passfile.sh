#!/usr/bin/env bash
# Database passwords reach the client programs through a private password file, never their
# environment (issue 15, "Secrets"): /proc/PID/environ of a child shows every variable it was
# given for as long as it runs. prepare's pg_dump (snapshot.dump of a password_env target) and
# pg_restore (the restore test, password inline in its conninfo), and break-glass.sh's psql, are
# each a shim in PATH that saves its own environment and the password file it was pointed at,
# then runs the real program. None may hold a password (as PGPASSWORD or under any name); each
# gets PGPASSFILE: mode 0600 in a 0700 folder, one line for any server with ':' and '\' escaped,
# removed once the program ended. break-glass.sh unexports the runbook's secrets, so no program
# it starts inherits them (a restore step that names one in its env: gets that one alone).
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg

T=$(rb_tmpdir)
NEW=$(rb_createdb pf_new)
LEG=$(rb_createdb pf_leg)
SCRATCH=$(rb_createdb pf_scratch)
rb_psql "$NEW" "create table employees (id int primary key, created_at timestamptz not null);
  insert into employees select i, '2026-11-03Z' from generate_series(1, 5) i;" >/dev/null
rb_psql "$LEG" "create table employees (employee_id int primary key);" >/dev/null
PGBIN=${RB_TEST_PGBIN:-/usr/lib/postgresql/15/bin}
"$PGBIN/pg_dump" -h "$RB_TEST_PGHOST" -p "$RB_TEST_PGPORT" -U "$RB_TEST_PGUSER" -Fc -f "$T/legacy.dump" "$LEG"

# The secrets: distinctive, with the characters a password file must escape.
export PF_NEW_SECRET='pf-new:s3cr\et-4471' PF_LEG_SECRET='pf-leg-s3cret-9902' PF_PLAIN=kept
SCRATCH_SECRET='pf-scratch-s3cret-1187'

# shims: each saves its environment and its password file (mode, folder mode, text), then execs
mkdir -p "$T/bin" "$T/seen"
for prog in pg_dump pg_restore psql; do
  real=$PGBIN/$prog
  [[ -x "$real" ]] || real=$(command -v "$prog")
  cat >"$T/bin/$prog" <<SH
#!/bin/bash
n=\$\$
tr '\\0' '\\n' </proc/\$\$/environ >"$T/seen/$prog.\$n.env"
printf '%s\\n' "\$@" >"$T/seen/$prog.\$n.args"
if [[ -n "\${PGPASSFILE:-}" ]]; then
  printf '%s\\n' "\$PGPASSFILE" >"$T/seen/$prog.\$n.path"
  stat -c '%a' "\$PGPASSFILE" "\$(dirname "\$PGPASSFILE")" >"$T/seen/$prog.\$n.mode"
  cat "\$PGPASSFILE" >"$T/seen/$prog.\$n.pass"
fi
exec "$real" "\$@"
SH
  chmod 0755 "$T/bin/$prog"
done
export PATH="$T/bin:$PATH"

cat >"$T/runbook.yaml" <<YAML
version: 1
name: passfile-test
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  new: { driver: postgres, conninfo: "$(rb_conninfo "$NEW")", password_env: PF_NEW_SECRET }
  legacy: { driver: postgres, conninfo: "$(rb_conninfo "$LEG")", password_env: PF_LEG_SECRET }
sync:
  from: new
  to: legacy
  tables:
    - name: new_employees
      source: { table: employees, changed_since: created_at }
      target: { table: employees, key: [employee_id] }
      columns: { employee_id: id }
restore:
  - name: Plain step
    run: [bash, -c, "tr '\\\\0' '\\\\n' </proc/\$\$/environ > $T/seen/step-plain.env"]
    verify: { run: [bash, -c, "tr '\\\\0' '\\\\n' </proc/\$\$/environ > $T/seen/probe.env; test -s $T/seen/step-plain.env"] }
  - name: Step asking for one
    run: [bash, -c, "tr '\\\\0' '\\\\n' </proc/\$\$/environ > $T/seen/step-asked.env"]
    env: { PF_LEG_SECRET: , PAYROLL_MODE: legacy }
prepare:
  backup:
    target: legacy
    file: $T/legacy.dump
    restore_test:
      conninfo: "$(rb_conninfo "$SCRATCH") password=$SCRATCH_SECRET"
      check: select true
  snapshot: { target: new }
  keep: 2
  contacts:
    - { role: Payroll migration lead, email: payroll-oncall@example.com }
YAML

# passfile_ok PROG SECRET: every run of PROG that connects (pg_dump, psql; pg_restore with -d)
# had a private password file holding SECRET, and none had PGPASSWORD
passfile_ok() {
  local prog=$1 secret=$2 esc f n=0
  esc=${secret//\\/\\\\}
  esc=${esc//:/\\:}
  for f in "$T/seen/$prog".*.env; do
    [[ -e "$f" ]] || rb_fail "$prog never ran"
    assert_not_contains "$(cut -d= -f1 "$f")" "PGPASSWORD" "$prog ($(basename "$f")): no PGPASSWORD"
    [[ "$prog" != pg_restore ]] || grep -qx -- -d "${f%.env}.args" || continue
    n=$((n + 1))
    [[ -s "${f%.env}.path" ]] || rb_fail "$prog ($(basename "$f")): no PGPASSFILE"
    [[ -z "$secret" ]] || assert_eq "*:*:*:*:$esc" "$(cat "${f%.env}.pass")" "$prog: the password file holds the password, escaped"
    assert_eq "$(printf '600\n700')" "$(cat "${f%.env}.mode")" "$prog: the file 0600 in a 0700 folder"
    [[ ! -e "$(cat "${f%.env}.path")" && ! -e "$(dirname "$(cat "${f%.env}.path")")" ]] ||
      rb_fail "$prog: the password file $(cat "${f%.env}.path") was left behind"
  done
  ((n > 0)) && rb_ok "$prog connected $n times with a private password file, removed after" ||
    rb_fail "$prog never connected"
}

# no_secret FILE...: no secret value in these environments
no_secret() {
  local f s
  for f in "$@"; do
    for s in "$PF_NEW_SECRET" "$PF_LEG_SECRET" "$SCRATCH_SECRET"; do
      grep -qF -- "$s" "$f" && rb_fail "$(basename "$f") holds the secret ${s:0:8}..."
    done
  done
  rb_ok "no secret in $# environments ($(basename "$1")...)"
}

# --- prepare: pg_dump and pg_restore ------------------------------------------------------------
assert_exit 0 "$RB_BIN" -f "$T/runbook.yaml" -o json prepare
assert_eq READY "$(jq -r '.checks[] | select(.name == "backup.restore_test") | .status' "$RB_OUT_FILE")" \
  "the restore test restored (pg_restore with the scratch password)"
cp "$RB_OUT_FILE" "$T/prepare.json"
assets=$(jq -r .assets "$T/prepare.json")
[[ -s "$assets/snapshot.dump" && -s "$assets/break-glass.sh" ]] || rb_fail "no snapshot.dump or break-glass.sh in '$assets'"
rb_ok "prepare dumped new (pg_dump with new's password) and wrote break-glass.sh"
passfile_ok pg_dump "$PF_NEW_SECRET"
passfile_ok pg_restore "$SCRATCH_SECRET"
no_secret "$T"/seen/pg_dump.*.env "$T"/seen/pg_restore.*.env
for f in "$T"/seen/pg_dump.*.env; do
  assert_not_contains "$(cut -d= -f1 "$f")" "PF_NEW_SECRET" "pg_dump: the password_env variable is dropped too"
done

# --- break-glass.sh: psql and every other program it starts ------------------------------------
script=$(cat "$assets/break-glass.sh")
for s in "$PF_NEW_SECRET" "$PF_LEG_SECRET" "$SCRATCH_SECRET"; do
  assert_not_contains "$script" "$s" "no secret in break-glass.sh (${s:0:8}...)"
done
BREAK_GLASS_OUT="$T/bg-out" TMPDIR="$T" bash "$assets/break-glass.sh" </dev/null >"$T/bg.log" 2>&1 ||
  { tail -n 20 "$T/bg.log"; rb_fail "break-glass.sh failed"; }
assert_eq 5 "$(rb_psql "$LEG" 'select count(*) from employees')" "break-glass.sh synced the rows through psql"
passfile_ok psql ""
for f in "$T"/seen/psql.*.pass; do
  [[ "$(cat "$f")" == '*:*:*:*:pf-new\:s3cr\\et-4471' || "$(cat "$f")" == "*:*:*:*:$PF_LEG_SECRET" ]] ||
    rb_fail "psql's password file holds '$(cat "$f")', not one target's escaped password"
done
rb_ok "each psql got its target's password, escaped"
no_secret "$T"/seen/psql.*.env "$T/seen/step-plain.env" "$T/seen/probe.env"
for f in "$T"/seen/psql.*.env "$T/seen/step-plain.env" "$T/seen/probe.env"; do
  for v in PF_NEW_SECRET PF_LEG_SECRET; do
    assert_not_contains "$(cut -d= -f1 "$f")" "$v" "$(basename "$f"): $v not inherited"
  done
  assert_contains "$(cat "$f")" "PF_PLAIN=kept" "$(basename "$f"): other variables are"
done
assert_eq "PF_LEG_SECRET=$PF_LEG_SECRET" "$(grep '^PF_LEG_SECRET=' "$T/seen/step-asked.env")" \
  "the step that named PF_LEG_SECRET in its env: has it"
assert_not_contains "$(cat "$T/seen/step-asked.env")" "$PF_NEW_SECRET" "and no other secret"
assert_eq "PAYROLL_MODE=legacy" "$(grep '^PAYROLL_MODE=' "$T/seen/step-asked.env")" "and the value it set"
compgen -G "$T/break-glass.*" >/dev/null && rb_fail "break-glass.sh left its temp folder: $(ls -d "$T"/break-glass.*)"
rb_ok "break-glass.sh removed its temp folder (the password files)"
