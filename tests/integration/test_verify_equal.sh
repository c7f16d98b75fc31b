#!/usr/bin/env bash
# equal: both databases are asked at once. Each side's query waits (up to 10 s) until the other
# side's query is running on its server and returns 1 when it saw it (after a second more, so the
# other sees it too), 0 when it gave up: asked at
# once both see each other ("both 1"); asked one after the other neither would ("both 0"). Two
# sides on one target are asked one after the other on its one connection, and a side whose query
# fails fails the check, naming that side.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
rb_require pg

T=$(rb_tmpdir)
NEW=$(rb_createdb eqnew)
LEG=$(rb_createdb eqlegacy)
for db in "$NEW" "$LEG"; do
  rb_psql "$db" - <<'SQL'
create function saw(marker text) returns int language plpgsql as $$
begin
  for i in 1..200 loop
    perform pg_stat_clear_snapshot(); -- else pg_stat_activity stays as first read in this transaction
    if exists (select 1 from pg_stat_activity
               where state = 'active' and pid <> pg_backend_pid() and query like '%' || marker || '%') then
      perform pg_sleep(1); -- still running while the other side looks
      return 1;
    end if;
    perform pg_sleep(0.05);
  end loop;
  return 0;
end $$;
SQL
done
RB=$T/runbook.yaml
cat >"$RB" <<YAML
$(rb_runbook_pg verify-equal "$T/state" "$NEW" "$LEG")
verify:
  - name: at once
    equal:
      new: { target: new, sql: "select saw('eq-side-' || 'legacy') /* eq-side-new */" }
      legacy: { target: legacy, sql: "select saw('eq-side-' || 'new') /* eq-side-legacy */" }
  - name: one target
    equal:
      new: { target: new, sql: "select 42" }
      legacy: { target: new, sql: "select 42.00" }
YAML
assert_exit 0 "$RB_BIN" -f "$RB" -o json verify
assert_eq '"both 1"' "$(jq -c '.checks[0].summary' <<<"$RB_OUT")" "each side ran while the other did"
assert_eq '"both 42"' "$(jq -c '.checks[1].summary' <<<"$RB_OUT")" "two sides on one connection, one after the other"

cat >>"$RB" <<'YAML'
  - name: broken legacy side
    equal:
      new: { target: new, sql: "select 1" }
      legacy: { target: legacy, sql: "select count(*) from no_such_table" }
YAML
assert_exit 1 "$RB_BIN" -f "$RB" -o json verify
assert_eq '[true,true,false]' "$(jq -c '[.checks[].passed]' <<<"$RB_OUT")" "only the broken check fails"
assert_contains "$(jq -r '.checks[2] | tostring' <<<"$RB_OUT")" "on 'legacy'" "the failing side is named"
assert_contains "$(jq -r '.checks[2] | tostring' <<<"$RB_OUT")" 'relation \"no_such_table\" does not exist' "with the server's reason"
