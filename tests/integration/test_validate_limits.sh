#!/usr/bin/env bash
# Validating large runbooks stays fast and bounded (issue 10, red-team pass): duplicate keys are
# found through a hash set (a mapping of 45,000 keys with one repeated at its end is validated and
# the duplicate named), a runbook past the node cap (200,000 keys in one mapping) is refused with
# a message saying so, and one past the size cap too; all exit 5. Generated runbooks, no server.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
export NO_COLOR=1

T=$(rb_tmpdir)
runbook_head() {
  cat <<YAML
version: 1
name: limits
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  new: { driver: postgres, conninfo: "dbname=new" }
  legacy: { driver: postgres, conninfo: "dbname=legacy" }
sync:
  from: new
  to: legacy
  tables:
    - name: employees
      source: { table: employees, changed_since: created_at }
      target: { table: employees, key: [c0] }
      columns:
YAML
}

# 45,000 columns (90,000 nodes, under the cap), the 7th repeated last
{ runbook_head; awk 'BEGIN { for (i = 0; i < 45000; i++) printf "        c%d: c%d\n", i, i; print "        c7: c7" }'; } >"$T/wide.yaml"
rc=0; "$RB_BIN" -f "$T/wide.yaml" validate >"$T/out" 2>"$T/err" || rc=$?
assert_eq "5" "$rc" "a duplicate among 45,000 keys: exit 5"
assert_eq "wide.yaml:45016:9: error: duplicate key 'c7' (first at line 23)" \
  "$(grep -v '^rollbackctl: ' "$T/err" | sed "s|^$T/||")" "the duplicate is the one problem, named with both lines"
sed -i '$d' "$T/wide.yaml"
assert_exit 0 "$RB_BIN" -f "$T/wide.yaml" validate
assert_contains "$RB_OUT" "is valid" "without it the wide runbook is valid"

# 200,000 keys in one mapping: past the node cap
{ runbook_head; awk 'BEGIN { for (i = 0; i < 200000; i++) printf "        c%d: c%d\n", i, i }'; } >"$T/huge.yaml"
rc=0; "$RB_BIN" -f "$T/huge.yaml" validate >"$T/out" 2>"$T/err" || rc=$?
assert_eq "5" "$rc" "200,000 keys in one mapping: exit 5"
assert_contains "$(cat "$T/err")" "error: the runbook has more than 100000 YAML nodes (keys, values, list items)" \
  "the node cap is named"
assert_contains "$(cat "$T/err")" "is invalid: 1 error" "and it is the one error"
rc=0; "$RB_BIN" -o json -f "$T/huge.yaml" validate >"$T/json" 2>/dev/null || rc=$?
assert_eq "5" "$rc" "-o json: exit 5"
assert_contains "$(cat "$T/json")" "more than 100000 YAML nodes" "-o json names the cap"

# a file over 8 MiB is not read to the end
{ runbook_head; printf '        c0: "'; command head -c $((9 << 20)) /dev/zero | tr '\0' x; printf '"\n'; } >"$T/big.yaml"
rc=0; "$RB_BIN" -f "$T/big.yaml" validate >"$T/out" 2>"$T/err" || rc=$?
assert_eq "5" "$rc" "a 9 MiB runbook: exit 5"
assert_contains "$(cat "$T/err")" "error: the runbook is larger than 8 MiB" "the size cap is named"
echo "ok - large runbooks: duplicates found among many keys, node and size caps refuse with a message"
