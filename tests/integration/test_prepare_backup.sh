#!/usr/bin/env bash
# test_prepare_backup: prepare's backup checks and its assets set (issue 13, "Checks" first
# bullet, "Assets"), through `rollbackctl -o json prepare` against the test PostgreSQL and a
# private Kubernetes stand-in. The backup is a pg_dump -Fc of a legacy fixture database; the
# restore test goes into a scratch database of its own. Then:
#   - on the sandbox every backup.* check is READY (sizes, ages, the scratch holds the rows), and
#     the assets set is whole: folders 0700, files 0600, sha256sum -c MANIFEST.sha256 passes,
#     pg_restore --list reads snapshot.dump, the cluster snapshot has no Secret, the runbook and
#     its template are copied;
#   - each failure alone: a backup older than max_age (touch -d), a truncated backup (pg_restore
#     --list alone would pass it), a check query returning false, a scratch that is the legacy
#     target spelled another way (refused, legacy untouched), a missing file;
#   - keep: 2 leaves 2 sets after 3 runs; a stale partial folder goes; a link named like a set
#     is not followed.
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg
command -v jq >/dev/null || rb_fail "jq not found (scripts/install-deps)"
# pg_dump/pg_restore of the test server's version first in PATH (as an operator would set it)
export PATH=$RB_TEST_PGBIN:$PATH
SF=$RB_SOURCE_DIR/tests/integration/sync

T=$(rb_tmpdir)
F=$T/kube
rb_kube_fake "$F"
rb_kube_isolate "$T/home"

NEW=$(rb_createdb pb_new)
LEG=$(rb_createdb pb_leg)
SCRATCH=$(rb_createdb pb_scratch)
rb_psql "$NEW" - <"$SF/new.sql" >/dev/null
rb_psql "$LEG" - <"$SF/legacy.sql" >/dev/null
# the scratch holds leftovers of an earlier night: emptying must remove them
rb_psql "$SCRATCH" "create schema old_night; create table old_night.t (x int); create table public.stale (x int)"

mkdir -p "$T/backups" "$T/rb/templates"
BACKUP=$T/backups/legacy.dump
pg_dump -Fc -f "$BACKUP" "$(rb_conninfo "$LEG")"
size=$(stat -c %s "$BACKUP")
head -c $((size / 2)) "$BACKUP" >"$T/backups/truncated.dump"
# the claim behind backup.intact's second read: --list alone passes the truncated file
pg_restore --list "$T/backups/truncated.dump" >/dev/null 2>&1 ||
  rb_fail "pg_restore --list fails on a truncated archive here: the test's premise changed"
rb_ok "pg_restore --list alone accepts a half archive (why backup.intact reads the data too)"
echo "Rollback {{run_id}}: {{outcome}}" >"$T/rb/templates/leadership.txt"
mkdir -p "$T/shared"
echo "Payroll is back on the legacy system ({{outcome}})" >"$T/shared/notice.txt"
export RB_PB_SMTP_PW="smtp-secret-$RANDOM$RANDOM"
export RB_PB_NEW_PW="new-secret-$RANDOM$RANDOM"
SCRATCH_PW="scratch-secret-$RANDOM$RANDOM"   # inline in restore_test's conninfo (trust auth here)

# pg_dump and pg_restore as rollbackctl starts them: each call's argv and the environment's
# secrets logged, then the real program (first in PATH, as an operator's wrapper would be)
mkdir -p "$T/bin"
for prog in pg_dump pg_restore; do
  cat >"$T/bin/$prog" <<EOF
#!/usr/bin/env bash
{ printf 'argv:'; printf ' %s' "\$@"; printf '\n'
  printf 'PGPASSWORD=%s PASSFILE=%s SMTP=%s\n' "\${PGPASSWORD:-}" \
    "\$([[ -n "\${PGPASSFILE:-}" ]] && cat "\$PGPASSFILE")" "\${RB_PB_SMTP_PW:-unset}"; } >>"$T/calls.log"
exec "$RB_TEST_PGBIN/$prog" "\$@"
EOF
  chmod +x "$T/bin/$prog"
done
export PATH=$T/bin:$PATH

# write_runbook FILE BACKUP_FILE SCRATCH_CONNINFO CHECK
write_runbook() {
  cat >"$1" <<EOF
$(rb_runbook_header prepare-backup-test "$T/state")
  new: { driver: postgres, conninfo: "$(rb_conninfo "$NEW")", password_env: RB_PB_NEW_PW }
  legacy: { driver: postgres, conninfo: "$(rb_conninfo "$LEG")" }
  cluster: { driver: kubernetes, kubeconfig: $KUBE_FAKE_KUBECONFIG, namespace: payroll }
  mail: { driver: smtp, url: "smtp://127.0.0.1:9", from: "rb@example.com", username_env: RB_PB_SMTP_PW, password_env: RB_PB_SMTP_PW }
freeze:
  - snapshot: { target: cluster }
communicate:
  - name: Leadership
    via: mail
    to: [leadership@example.com]
    subject: Payroll rollback
    template: templates/leadership.txt
  - name: Staff
    via: mail
    to: [staff@example.com]
    subject: Payroll
    template: $T/shared/notice.txt
prepare:
  backup:
    target: legacy
    file: $2
    max_age: 24h
    restore_test:
      conninfo: "$3"
      check: "$4"
  snapshot: { target: new }
  keep: 2
  contacts:
    - { role: Payroll migration lead, email: payroll-oncall@example.com }
EOF
}
RB=$T/rb/runbook.yaml
GOOD_CHECK="select count(*) = 1800 from payroll_history"
SCRATCH_CI="$(rb_conninfo "$SCRATCH") password=$SCRATCH_PW"
write_runbook "$RB" "$BACKUP" "$SCRATCH_CI" "$GOOD_CHECK"
assert_exit 0 "$RB_BIN" -f "$RB" validate

# prepare_json [EXIT]: run prepare -o json (exit EXIT, default 1 when any check fails), keep it in $J
prepare_json() {
  assert_exit "$1" "$RB_BIN" -f "$RB" -o json prepare
  J=$RB_OUT
}
status() { jq -r --arg n "$1" '.checks[] | select(.name == $n) | .status' <<<"$J"; }
reason() { jq -r --arg n "$1" '.checks[] | select(.name == $n) | .reason' <<<"$J"; }
# only_not_ready NAME...: exactly these checks are NOT_READY
only_not_ready() {
  local want got
  want=$(printf '%s\n' "$@" | sort | paste -sd' ')
  got=$(jq -r '.checks[] | select(.status != "READY") | .name' <<<"$J" | sort | paste -sd' ')
  assert_eq "$want" "$got" "NOT_READY exactly: $want"
}

# break-glass.sh is another helper's: until it is merged its stub fails the assets check
BG_STUB=0
also=()   # the checks NOT_READY in every case because of that stub

# ---- all READY --------------------------------------------------------------------------------
"$RB_BIN" -f "$RB" -o json prepare >"$T/first.json" 2>"$T/first.err" || true
J=$(<"$T/first.json")
[[ -n "$J" ]] || rb_fail "prepare printed no JSON: $(cat "$T/first.err")"
if [[ "$(reason assets)" == *"break-glass.sh is not built yet"* ]]; then
  BG_STUB=1
  also=(assets)
  only_not_ready assets
  assert_eq null "$(jq -r .assets <<<"$J")" "no assets folder reported while break-glass.sh fails"
  assert_eq "" "$(find "$T/state/prepare" -mindepth 1 -maxdepth 1 2>/dev/null)" \
    "the partial folder is removed, no set is left"
else
  only_not_ready
  assert_eq true "$(jq -r .ready <<<"$J")" "ready: true"
fi
assert_eq "backup.exists backup.intact backup.recent backup.restore_test" \
  "$(jq -r '[.checks[].name | select(startswith("backup."))] | join(" ")' <<<"$J")" \
  "the four backup checks, in order"
calls=$(<"$T/calls.log")
assert_contains "$calls" "argv: --format=custom --file" "pg_dump ran (snapshot.dump)"
assert_contains "$calls" "argv: --no-owner --no-privileges --exit-on-error -d" "pg_restore restored"
assert_not_contains "$(grep '^argv:' "$T/calls.log")" "secret-" "no password in any argv"
assert_contains "$calls" "PGPASSWORD= PASSFILE=*:*:*:*:$RB_PB_NEW_PW SMTP=unset" \
  "pg_dump got new's password in a password file, not PGPASSWORD (test_client_passfile checks the file)"
assert_contains "$calls" "PGPASSWORD= PASSFILE=*:*:*:*:$SCRATCH_PW SMTP=unset" "pg_restore got the scratch's the same way"
assert_not_contains "$calls" "SMTP=smtp-secret" "the runbook's other secrets are dropped from their environment"
assert_contains "$(reason backup.exists)" "is a regular file of 30 KB" "backup.exists prints the size"
assert_contains "$(reason backup.intact)" "3 tables of data" "backup.intact read the data entries"
assert_contains "$(reason backup.recent)" "ago, max_age 1d" "backup.recent prints the age and max_age"
assert_eq 0 "$(jq -r '.backup_age_seconds < 120 | if . then 0 else 1 end' <<<"$J")" "backup age in seconds"
assert_contains "$(reason backup.restore_test)" "returned true" "backup.restore_test's check returned true"
assert_eq 1800 "$(rb_psql "$SCRATCH" "select count(*) from payroll_history")" "the scratch holds the restored rows"
assert_eq "0" "$(rb_psql "$SCRATCH" "select count(*) from pg_namespace where nspname = 'old_night'")" \
  "the scratch was emptied first (last night's schema gone)"
assert_eq "0" "$(rb_psql "$SCRATCH" "select count(*) from pg_tables where tablename = 'stale'")" \
  "and last night's table in public"

if [[ $BG_STUB == 0 ]]; then
  A=$(jq -r .assets <<<"$J")
  [[ "$(basename "$A")" =~ ^[0-9]{8}T[0-9]{6}Z$ ]] || rb_fail "assets folder name '$A' is not a UTC timestamp"
  assert_eq "$T/state/prepare" "$(dirname "$A")" "assets under state_dir/prepare"
  assert_eq "" "$(find "$A" -type d ! -perm 0700)" "every folder of the set is 0700"
  assert_eq "" "$(find "$A" -type f ! -name break-glass.sh ! -perm 0600)" "every file is 0600"
  assert_eq 700 "$(stat -c %a "$A/break-glass.sh")" "break-glass.sh 0700 (./break-glass.sh)"
  (cd "$A" && sha256sum --quiet -c MANIFEST.sha256) || rb_fail "sha256sum -c MANIFEST.sha256 failed"
  rb_ok "sha256sum -c MANIFEST.sha256 passes"
  listed=$(cd "$A" && find . -type f ! -name MANIFEST.sha256 | sed 's|^\./||' | sort | paste -sd' ')
  assert_eq "$listed" "$(awk '{print $2}' "$A/MANIFEST.sha256" | sort | paste -sd' ')" \
    "the manifest covers every other file"
  assert_contains "$listed" "cluster-cluster-payroll.json" "the cluster snapshot is in the set"
  assert_contains "$listed" "runbook/runbook.yaml" "the runbook is copied"
  assert_contains "$listed" "runbook/templates/leadership.txt" "its template keeps its relative path"
  assert_contains "$listed" "runbook/external/notice.txt" "a template outside its folder goes to external/"
  cmp -s "$RB" "$A/runbook/runbook.yaml" || rb_fail "the runbook copy differs"
  pg_restore --list "$A/snapshot.dump" | grep -q 'TABLE DATA public employee_payments' ||
    rb_fail "snapshot.dump is not a pg_dump archive of the new database"
  rb_ok "pg_restore --list reads snapshot.dump (the new database's tables)"
  assert_eq 0 "$(jq '[.items[] | select(.kind == "Secret")] | length' "$A/cluster-cluster-payroll.json")" \
    "the cluster snapshot holds no Secret"
  assert_eq 1 "$(jq '[.items[] | select(.kind == "Deployment" and .metadata.name == "payroll-api")] | length' \
    "$A/cluster-cluster-payroll.json")" "and holds the payroll-api Deployment"
  set_text=$(find "$A" -type f -exec cat {} + | tr -d '\0')
  assert_not_contains "$set_text" "$RB_PB_SMTP_PW" "no secret value in the set (smtp)"
  assert_not_contains "$set_text" "$RB_PB_NEW_PW" "no secret value in the set (new's password)"
  assert_eq "" "$(find "$T/state/prepare" -maxdepth 1 -name '.partial-*')" "no partial folder is left"
fi

# ---- each failure alone -------------------------------------------------------------------------
touch -d '2 days ago' "$BACKUP"
prepare_json 1
only_not_ready backup.recent "${also[@]}"
assert_contains "$(reason backup.recent)" "written 2d ago, over max_age 1d" "the stale backup's age"
touch "$BACKUP"

write_runbook "$RB" "$T/backups/truncated.dump" "$SCRATCH_CI" "$GOOD_CHECK"
prepare_json 1
only_not_ready backup.intact backup.restore_test "${also[@]}"
assert_contains "$(reason backup.intact)" "is not a whole pg_dump archive" "a truncated backup is not intact"
assert_contains "$(reason backup.restore_test)" "not tried" "and is not restored over the scratch"

write_runbook "$RB" "$BACKUP" "$SCRATCH_CI" "select count(*) = 1 from payroll_history"
prepare_json 1
only_not_ready backup.restore_test "${also[@]}"
assert_contains "$(reason backup.restore_test)" "returned 'f', not true" "a false check is NOT_READY"

# the legacy target spelled another way: over TCP instead of the socket, keywords reordered
legacy_before=$(rb_psql "$LEG" "select count(*) from payroll_history")
rb_psql "$LEG" "create table keep_me (x int); insert into keep_me values (42)"
write_runbook "$RB" "$BACKUP" "dbname=$LEG user=$RB_TEST_PGUSER host=127.0.0.1 port=$RB_TEST_PGPORT" "$GOOD_CHECK"
prepare_json 1
only_not_ready backup.restore_test "${also[@]}"
assert_contains "$(reason backup.restore_test)" "is target 'legacy' of the runbook" "a scratch that is a target is refused"
assert_eq 42 "$(rb_psql "$LEG" "select x from keep_me")" "the legacy database is untouched"
assert_eq "$legacy_before" "$(rb_psql "$LEG" "select count(*) from payroll_history")" "its rows too"

write_runbook "$RB" "$T/backups/nope.dump" "$SCRATCH_CI" "$GOOD_CHECK"
prepare_json 1
only_not_ready backup.exists backup.intact backup.recent backup.restore_test \
  "${also[@]}"
assert_contains "$(reason backup.exists)" "does not exist" "a missing backup"

# ---- retention ----------------------------------------------------------------------------------
if [[ $BG_STUB == 0 ]]; then
  # every run above wrote a set: keep 2 leaves the newest two
  assert_eq 2 "$(find "$T/state/prepare" -mindepth 1 -maxdepth 1 -type d -name '2*' | wc -l)" \
    "keep: 2 leaves 2 sets after 6 runs"
  mkdir -p "$T/elsewhere" "$T/state/prepare/.partial-20200101T000000Z"
  touch "$T/elsewhere/precious"
  touch -d '2 days ago' "$T/state/prepare/.partial-20200101T000000Z"
  ln -s "$T/elsewhere" "$T/state/prepare/20000101T000000Z"
  write_runbook "$RB" "$BACKUP" "$SCRATCH_CI" "$GOOD_CHECK"
  # a runbook named relative to the working folder: its templates keep their relative paths too
  # shellcheck disable=SC2016  # $1 and $2 are the inner shell's arguments
  assert_exit 0 bash -c 'cd "$1" && "$2" -f runbook.yaml -o json prepare' _ "$T/rb" "$RB_BIN"
  J=$RB_OUT
  newest=$(jq -r .assets <<<"$J")
  [[ -d "$newest" ]] || rb_fail "the newest set '$newest' is missing"
  [[ -f "$newest/runbook/templates/leadership.txt" && -f "$newest/runbook/runbook.yaml" ]] ||
    rb_fail "the runbook and its template are not in '$newest/runbook'"
  rb_ok "a relative runbook's template keeps its relative path"
  assert_eq 2 "$(find "$T/state/prepare" -mindepth 1 -maxdepth 1 -type d -name '2*' | wc -l)" \
    "still 2 sets after one more run"
  assert_eq "" "$(find "$T/state/prepare" -maxdepth 1 -name '.partial-*')" "a stale partial folder is removed"
  [[ -f "$T/elsewhere/precious" ]] || rb_fail "retention followed a symbolic link"
  rb_ok "a link named like a set is not followed"
fi

# ---- an assets failure: the cluster is gone -------------------------------------------------------
sets_before=$(find "$T/state/prepare" -mindepth 1 -maxdepth 1 -type d -name '2*' | sort | paste -sd' ')
kube_fake_stop "$F" || true   # its last kill -9 finds the server already gone
prepare_json 1
assert_eq NOT_READY "$(status assets)" "assets NOT_READY when the cluster snapshot fails"
assert_contains "$(reason assets)" "cluster snapshot of target 'cluster'" "the reason names what failed"
assert_eq null "$(jq -r .assets <<<"$J")" "no assets folder reported"
assert_eq "" "$(find "$T/state/prepare" -maxdepth 1 -name '.partial-*')" "the partial folder is removed"
assert_eq "$sets_before" "$(find "$T/state/prepare" -mindepth 1 -maxdepth 1 -type d -name '2*' | sort | paste -sd' ')" \
  "the sets already there are kept (nothing removed after a failed night)"
