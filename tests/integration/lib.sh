# tests/integration/lib.sh: what every integration test sources.
#
#   source "$RB_SOURCE_DIR/tests/integration/lib.sh"
#   rb_require pg                      # fail clearly unless scripts/services started pg
#   db=$(rb_createdb sync)             # fresh database, dropped when the test exits
#   rb_psql "$db" "create table t (id int)"
#   assert_eq 3 "$(rb_psql "$db" 'select count(*) from t')" "three rows copied"
#
# It loads the servers' addresses from "${RB_TEST_ENV:-${RB_SERVICES_DIR:-$RB_BUILD_DIR/services}/env}"
# (written by scripts/services), turns on `set -euo pipefail`, and prints TAP-like lines:
# "ok - <what>" per passed assertion and "not ok - <what>" followed by the reason for the first
# failure, which ends the test with exit 1. A command that fails outside an assertion ends the test
# too, naming the line and command.
#
# Helpers (all documented where they are defined below):
#   rb_require COMPONENT...   rb_createdb NAME   rb_psql DB SQL|-   rb_conninfo DB   rb_tmpdir
#   rb_on_exit CMD...         rb_jget FILE EXPR   assert_eq EXPECTED ACTUAL [WHAT]    assert_contains HAYSTACK NEEDLE [WHAT]
#   assert_not_contains HAYSTACK NEEDLE [WHAT]                   assert_exit CODE CMD...
#   rb_ok WHAT                rb_fail MESSAGE      rb_skip REASON
#   rb_runbook_header NAME STATE_DIR                rb_runbook_pg NAME STATE_DIR NEW_DB LEGACY_DB
#   rb_kube_fake DIR [STATE_JSON]                   rb_kube_isolate HOME_DIR
# Cleanups (databases, temp dirs, rb_on_exit commands) run on exit, also after a failure, and work
# from subshells too (`db=$(rb_createdb x)` registers the drop). Do not set your own EXIT trap: use
# rb_on_exit. RB_KEEP=1 keeps databases and temp dirs for a post-mortem (their names are printed).

set -euo pipefail
set -E   # the ERR trap also fires inside functions and subshells

RB_SOURCE_DIR=${RB_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
RB_BUILD_DIR=${RB_BUILD_DIR:-$RB_SOURCE_DIR/build}
RB_BIN=${RB_BIN:-$RB_BUILD_DIR/rollbackctl}
RB_TEST_NAME=${RB_TEST_NAME:-$(basename "$0" .sh)}
export RB_SOURCE_DIR RB_BUILD_DIR RB_BIN

# Per-test bookkeeping: files, so that helpers called in $(...) subshells can register cleanups.
RB__STATE=$(mktemp -d "${TMPDIR:-/tmp}/rb-test-state.XXXXXX")
: >"$RB__STATE/dbs"
: >"$RB__STATE/dirs"
: >"$RB__STATE/cmds"
RB__MAIN_PID=$$
RB__PASSED=0

rb__cleanup() {
  local rc=$? line
  trap - EXIT ERR
  set +e
  # rb_on_exit commands, last registered first (servers started by the test, ...).
  if [[ -s "$RB__STATE/cmds" ]]; then
    tac "$RB__STATE/cmds" | while IFS= read -r line; do
      eval "$line" >/dev/null 2>&1
    done
  fi
  if [[ "${RB_KEEP:-0}" == 1 ]]; then
    [[ -s "$RB__STATE/dbs" ]] && printf '# kept databases: %s\n' "$(paste -sd' ' "$RB__STATE/dbs")"
    [[ -s "$RB__STATE/dirs" ]] && printf '# kept dirs: %s\n' "$(paste -sd' ' "$RB__STATE/dirs")"
  else
    while IFS= read -r line; do
      [[ -n "$line" ]] || continue
      rb__psql_raw postgres "drop database if exists \"$line\" with (force)" >/dev/null 2>&1 ||
        printf '# warning: could not drop database %s\n' "$line" >&2
    done <"$RB__STATE/dbs"
    while IFS= read -r line; do
      [[ -n "$line" && -d "$line" ]] && rm -rf "$line"
    done <"$RB__STATE/dirs"
  fi
  rm -rf "$RB__STATE"
  if (( rc == 0 )); then
    printf '# %s: %d assertions passed\n' "$RB_TEST_NAME" "$RB__PASSED"
  fi
  exit "$rc"
}
trap rb__cleanup EXIT

# A command failed under set -e outside an assertion: say where, then exit (cleanup runs).
rb__on_err() {
  local rc=$1 line=$2 cmd=$3
  # Only the test's main shell reports; subshells just propagate their status.
  if [[ "$BASHPID" == "$RB__MAIN_PID" ]]; then
    printf 'not ok - %s: line %s: command failed (exit %s): %s\n' "$RB_TEST_NAME" "$line" "$rc" "$cmd"
  fi
}
trap 'rb__on_err $? $LINENO "$BASH_COMMAND"' ERR

# rb_fail MESSAGE: the test failed; print why and exit 1.
rb_fail() {
  printf 'not ok - %s\n' "$*"
  printf '%s: FAILED: %s\n' "$RB_TEST_NAME" "$*" >&2
  trap - ERR
  exit 1
}

# rb_ok WHAT: record a passed check that no assert_* expresses.
rb_ok() {
  RB__PASSED=$((RB__PASSED + 1))
  printf 'ok - %s\n' "$*"
}

# rb_skip REASON: the test cannot run here (a missing optional package); exit 77, which ctest reports
# as skipped when the test has SKIP_RETURN_CODE 77.
rb_skip() {
  printf 'ok - # SKIP %s\n' "$*"
  trap - EXIT ERR
  rm -rf "$RB__STATE"
  exit 77
}

# ---- servers ---------------------------------------------------------------------------------------
RB_TEST_ENV=${RB_TEST_ENV:-${RB_SERVICES_DIR:-$RB_BUILD_DIR/services}/env}
if [[ -f "$RB_TEST_ENV" ]]; then
  # shellcheck source=/dev/null
  source "$RB_TEST_ENV"
fi
RB_SERVICES=${RB_SERVICES:-}

# rb_require COMPONENT...: fail clearly unless scripts/services started each component; for pg,
# also check the server answers.
rb_require() {
  local c
  for c in "$@"; do
    if [[ ! -f "$RB_TEST_ENV" ]]; then
      rb_fail "test servers not started: no env file '$RB_TEST_ENV' (run: scripts/services start $*)"
    fi
    if [[ " $RB_SERVICES " != *" $c "* ]]; then
      rb_fail "service '$c' is not running (running: '${RB_SERVICES}'; run: scripts/services start $c)"
    fi
    if [[ "$c" == pg ]]; then
      "$RB_TEST_PGBIN/pg_isready" -q -h "$RB_TEST_PGHOST" -p "$RB_TEST_PGPORT" -t 5 ||
        rb_fail "PostgreSQL at $RB_TEST_PGHOST:$RB_TEST_PGPORT does not answer (scripts/services start pg)"
    fi
  done
}

rb__psql_raw() { # DB SQL -> psql -XAtq with ON_ERROR_STOP against the test cluster
  local db=$1 sql=$2
  PGCONNECT_TIMEOUT=10 "${RB_TEST_PGBIN:-/usr/lib/postgresql/15/bin}/psql" -X -A -t -q \
    -v ON_ERROR_STOP=1 -h "$RB_TEST_PGHOST" -p "$RB_TEST_PGPORT" -U "$RB_TEST_PGUSER" -d "$db" -c "$sql"
}

# rb_createdb NAME: create a fresh database named NAME_<unique> (lower case, at most 63 bytes), print
# its name; dropped (WITH FORCE) when the test exits.
rb_createdb() {
  local base=${1:-db} name
  rb_require pg
  base=$(printf '%s' "$base" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9_' '_' | cut -c1-32)
  name="rbt_${base}_${BASHPID}_${RANDOM}${RANDOM}"
  printf '%s\n' "$name" >>"$RB__STATE/dbs"
  rb__psql_raw postgres "create database \"$name\"" >/dev/null ||
    rb_fail "could not create database '$name'"
  printf '%s\n' "$name"
}

# rb_psql DB SQL: run SQL (several statements allowed) in DB and print the result unaligned, tuples
# only ("a|b" per row); stops at the first error with psql's exit status. SQL "-" reads stdin.
rb_psql() {
  local db=$1 sql=$2
  shift 2
  if [[ "$sql" == - ]]; then
    PGCONNECT_TIMEOUT=10 "${RB_TEST_PGBIN:-/usr/lib/postgresql/15/bin}/psql" -X -A -t -q \
      -v ON_ERROR_STOP=1 -h "$RB_TEST_PGHOST" -p "$RB_TEST_PGPORT" -U "$RB_TEST_PGUSER" -d "$db" -f - "$@"
  else
    rb__psql_raw "$db" "$sql"
  fi
}

# rb_wait_sql DB SQL EXPECTED [TRIES]: poll SQL in DB every 0.02 s until it prints EXPECTED;
# status 1 after TRIES polls (default 300, about 6 s plus the queries) without it. For tests
# that wait on the server's view of a run in flight (a session committing, a lock held); the
# caller asserts what it needs afterwards.
rb_wait_sql() {
  local db=$1 sql=$2 expected=$3 tries=${4:-300} _
  for _ in $(seq "$tries"); do
    [[ $(rb__psql_raw "$db" "$sql") == "$expected" ]] && return 0
    sleep 0.02
  done
  return 1
}

# rb_conninfo DB: a libpq conninfo for DB on the test cluster (for runbooks under test).
rb_conninfo() {
  printf 'host=%s port=%s user=%s dbname=%s\n' "$RB_TEST_PGHOST" "$RB_TEST_PGPORT" "$RB_TEST_PGUSER" "$1"
}

# rb_tmpdir: print a new private temp dir (0700), removed when the test exits.
rb_tmpdir() {
  local d
  d=$(mktemp -d "${TMPDIR:-/tmp}/rb-test.XXXXXX")
  printf '%s\n' "$d" >>"$RB__STATE/dirs"
  printf '%s\n' "$d"
}

# rb_on_exit CMD...: run CMD (argv, quoted safely) when the test exits, before databases are dropped;
# the last registered runs first.
rb_on_exit() {
  printf '%q ' "$@" >>"$RB__STATE/cmds"
  printf '\n' >>"$RB__STATE/cmds"
}

# rb_jget FILE EXPR: print EXPR, a Python expression over `d`, the one JSON document in FILE
# (e.g. rb_jget "$T/status.json" 'd["outcome"]'); fails when FILE is not exactly one document.
rb_jget() {
  /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# ---- assertions ------------------------------------------------------------------------------------
# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
  local expected=$1 actual=$2 what=${3:-values equal}
  if [[ "$expected" == "$actual" ]]; then
    rb_ok "$what"
  else
    rb_fail "$what: expected '$expected', got '$actual'"
  fi
}

# assert_contains HAYSTACK NEEDLE [WHAT]
assert_contains() {
  local haystack=$1 needle=$2 what=${3:-output contains "'$2'"}
  if [[ "$haystack" == *"$needle"* ]]; then
    rb_ok "$what"
  else
    rb_fail "$what: '$needle' not found in: $(printf '%s' "$haystack" | head -c 2000)"
  fi
}

# assert_not_contains HAYSTACK NEEDLE [WHAT]
assert_not_contains() {
  local haystack=$1 needle=$2 what=${3:-output lacks "'$2'"}
  if [[ "$haystack" != *"$needle"* ]]; then
    rb_ok "$what"
  else
    rb_fail "$what: '$needle' found in: $(printf '%s' "$haystack" | head -c 2000)"
  fi
}

# assert_exit CODE CMD...: run CMD, check its exit status. Its output stays available afterwards in
# $RB_OUT / $RB_ERR (stdout / stderr text) and the files $RB_OUT_FILE / $RB_ERR_FILE.
RB_OUT="" RB_ERR="" RB_OUT_FILE="" RB_ERR_FILE=""
assert_exit() {
  local want=$1 rc=0
  shift
  RB_OUT_FILE="$RB__STATE/out.$BASHPID"
  RB_ERR_FILE="$RB__STATE/err.$BASHPID"
  "$@" >"$RB_OUT_FILE" 2>"$RB_ERR_FILE" || rc=$?
  RB_OUT=$(<"$RB_OUT_FILE")
  RB_ERR=$(<"$RB_ERR_FILE")
  if [[ "$rc" == "$want" ]]; then
    rb_ok "exit $want: $(printf '%q ' "$@" | cut -c1-160)"
  else
    printf '# stdout:\n%s\n# stderr:\n%s\n' "$(tail -n 30 "$RB_OUT_FILE")" "$(tail -n 30 "$RB_ERR_FILE")"
    rb_fail "expected exit $want, got $rc: $(printf '%q ' "$@" | cut -c1-300)"
  fi
}

# ---- set-up shared by many tests -------------------------------------------------------------------
# rb_runbook_header NAME STATE_DIR: a runbook's first lines (version, name, the tests' cutover
# 2026-11-01T00:00:00Z, state_dir) up to the `targets:` key, for a heredoc to go on from:
#   cat >"$RB" <<YAML
#   $(rb_runbook_header sync-edges "$T/state")
#     dns: { driver: rfc2136, ... }
#   YAML
rb_runbook_header() {
  printf 'version: 1\nname: %s\ncutover: 2026-11-01T00:00:00Z\nstate_dir: %s\ntargets:\n' "$1" "$2"
}

# rb_runbook_pg NAME STATE_DIR NEW_DB LEGACY_DB: rb_runbook_header, then the targets `new` and
# `legacy`, postgres on the test cluster's databases NEW_DB and LEGACY_DB (rb_conninfo).
rb_runbook_pg() {
  rb_runbook_header "$1" "$2"
  printf '  new: { driver: postgres, conninfo: "%s" }\n' "$(rb_conninfo "$3")"
  printf '  legacy: { driver: postgres, conninfo: "%s" }\n' "$(rb_conninfo "$4")"
}

# rb_kube_fake DIR [STATE_JSON]: a private Kubernetes API stand-in in DIR (tests/fakes/kube_fake.sh:
# its own CA, token and kubeconfig), holding STATE_JSON (default: the payroll cluster,
# tests/fakes/payroll-cluster.json), stopped when the test exits. Sets KUBE_FAKE_* (URL, CA, TOKEN,
# KUBECONFIG, ...) and makes kube_fake_state/_log/_fault/_api available. Not in $(...): the
# variables must reach the test's own shell.
rb_kube_fake() {
  local dir=$1 state=${2:-$RB_SOURCE_DIR/tests/fakes/payroll-cluster.json}
  [[ "$(type -t kube_fake_start)" == function ]] || source "$RB_SOURCE_DIR/tests/fakes/kube_fake.sh"
  rb_on_exit kube_fake_stop "$dir"   # first: a half-started stand-in is stopped too
  kube_fake_start "$dir" "$state" || rb_fail "the Kubernetes stand-in did not start in '$dir'"
}

# rb_kube_isolate HOME_DIR: no Kubernetes configuration of the machine reaches rollbackctl or
# kubectl: HOME becomes HOME_DIR (made; no ~/.kube/config), KUBECONFIG and the in-cluster
# service variables are unset. Only what the runbook names is used.
rb_kube_isolate() {
  export HOME=$1
  mkdir -p "$HOME"
  unset KUBECONFIG KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
}
