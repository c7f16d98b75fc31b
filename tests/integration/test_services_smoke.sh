#!/usr/bin/env bash
# test_services_smoke: the test servers and tests/integration/lib.sh work: a database is created,
# written and read back exactly, and the helpers clean up after themselves, also after a failure.
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg

db=$(rb_createdb smoke)
assert_eq 1 "$(rb_psql postgres "select count(*) from pg_database where datname = '$db'")" \
  "rb_createdb made database $db"

rb_psql "$db" "
  create table pay (id int primary key, name text, amount numeric(12,2), paid_at timestamptz);
  insert into pay values
    (1, 'O''Brien', 2500.00, '2026-11-04 14:00:00+00'),
    (2, 'Zoë Müller', 0.01, '2026-11-04 14:00:01+00'),
    (3, null, 123456789.99, null);"
assert_eq 3 "$(rb_psql "$db" 'select count(*) from pay')" "three rows inserted"
assert_eq "123459290.00" "$(rb_psql "$db" 'select sum(amount) from pay')" "numeric sum exact"
assert_eq "Zoë Müller" "$(rb_psql "$db" 'select name from pay where id = 2')" "non-ASCII text read back"
assert_eq "O'Brien|2500.00" "$(rb_psql "$db" 'select name, amount from pay where id = 1')" "quote and scale read back"
assert_eq "t" "$(rb_psql "$db" 'select name is null from pay where id = 3')" "NULL stays NULL"
assert_eq "2" "$(printf 'select count(*) from pay where amount < 3000;\n' | rb_psql "$db" -)" "rb_psql reads SQL from stdin"
assert_contains "$(rb_conninfo "$db")" "dbname=$db" "rb_conninfo names the database"

# Only loopback: the server must not listen anywhere else.
assert_eq "127.0.0.1" "$(rb_psql postgres 'show listen_addresses')" "server listens on loopback only"

dir=$(rb_tmpdir)
[[ -d "$dir" && -w "$dir" ]] || rb_fail "rb_tmpdir gave no writable dir"
assert_eq 700 "$(stat -c %a "$dir")" "rb_tmpdir is private"

assert_exit 3 bash -c 'echo out; echo err >&2; exit 3'
assert_eq out "$RB_OUT" "assert_exit keeps stdout"
assert_eq err "$RB_ERR" "assert_exit keeps stderr"

# A child test that passes: its database and temp dir are gone after it exits.
work=$(rb_tmpdir)
cat >"$work/child_ok.sh" <<'EOF'
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
d=$(rb_createdb child)
rb_psql "$d" "create table t (x int); insert into t values (1)"
t=$(rb_tmpdir)
touch "$t/file"
rb_on_exit touch "$MARK"
echo "DB=$d"
echo "DIR=$t"
assert_eq 1 "$(rb_psql "$d" 'select x from t')" "child reads its row"
EOF
MARK="$work/on-exit-ran" assert_exit 0 bash "$work/child_ok.sh"
child_db=$(sed -n 's/^DB=//p' <<<"$RB_OUT")
child_dir=$(sed -n 's/^DIR=//p' <<<"$RB_OUT")
[[ -n "$child_db" && -n "$child_dir" ]] || rb_fail "child did not report its database and dir: $RB_OUT"
assert_contains "$RB_OUT" "ok - child reads its row"
assert_eq 0 "$(rb_psql postgres "select count(*) from pg_database where datname = '$child_db'")" \
  "child's database dropped at exit"
[[ ! -e "$child_dir" ]] || rb_fail "child's temp dir '$child_dir' not removed"
rb_ok "child's temp dir removed at exit"
[[ -e "$work/on-exit-ran" ]] || rb_fail "rb_on_exit command did not run"
rb_ok "rb_on_exit command ran"

# A child whose assertion fails: exit 1, a clear message, and cleanup all the same.
cat >"$work/child_fail.sh" <<'EOF'
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
d=$(rb_createdb childfail)
echo "DB=$d"
assert_eq 5 "$(rb_psql "$d" 'select 4')" "four is five"
echo "not reached"
EOF
assert_exit 1 bash "$work/child_fail.sh"
assert_contains "$RB_OUT" "not ok - four is five: expected '5', got '4'"
assert_not_contains "$RB_OUT" "not reached"
child_db=$(sed -n 's/^DB=//p' <<<"$RB_OUT")
assert_eq 0 "$(rb_psql postgres "select count(*) from pg_database where datname = '$child_db'")" \
  "failed child's database dropped at exit"

# A child where a plain command fails: the line and command are named.
printf 'source "$RB_SOURCE_DIR/tests/integration/lib.sh"\nls /nonexistent-rb-dir\n' >"$work/child_err.sh"
assert_exit 2 bash "$work/child_err.sh"
assert_contains "$RB_OUT" "line 2: command failed (exit 2): ls /nonexistent-rb-dir"

# A child needing a service that is not running fails clearly.
printf 'source "$RB_SOURCE_DIR/tests/integration/lib.sh"\nrb_require nosuchservice\n' >"$work/child_req.sh"
assert_exit 1 bash "$work/child_req.sh"
assert_contains "$RB_OUT" "service 'nosuchservice' is not running"

# A bad SQL statement makes rb_psql fail (psql exits 1 for an error in -c SQL).
assert_exit 1 rb_psql "$db" "select * from no_such_table"
assert_contains "$RB_ERR" 'relation "no_such_table" does not exist'
