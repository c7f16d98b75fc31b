# tests/integration/sync/common.sh: set-up shared by the test_sync_*.sh tests.
#
#   source "$RB_SOURCE_DIR/tests/integration/sync/common.sh"
#   sync_setup            # $NEW and $LEG databases loaded with new.sql / legacy.sql, $T, $RB
#   sync_runbook FILE     # write $RB from a runbook template (default: runbook.yaml.in)
#   run_json              # `status -o json` of the latest run into $T/status.json
#   res TABLE FIELD       # a sync table's result field from $T/status.json
#   table_md5 DB SQL      # md5 of the ordered text of a query's rows
#   sync_jobs FILE        # give runbook FILE `sync.jobs: $RB_SYNC_JOBS` (the *_jobs.sh variants
#                         # of a test set RB_SYNC_JOBS=2 and run it again); nothing when unset or 1
SF=$RB_SOURCE_DIR/tests/integration/sync

sync_setup() {
  rb_require pg
  T=$(rb_tmpdir)
  NEW=$(rb_createdb snew)
  LEG=$(rb_createdb slegacy)
  rb_psql "$NEW" - <"$SF/new.sql"
  rb_psql "$LEG" - <"$SF/legacy.sql"
  RB=$T/runbook.yaml
  sync_runbook "$SF/runbook.yaml.in"
}

sync_runbook() {
  sed -e "s|@STATE@|$T/state|" -e "s|@NEW@|$(rb_conninfo "$NEW")|" -e "s|@LEGACY@|$(rb_conninfo "$LEG")|" \
    "$1" >"$RB"
}

run_json() {
  "$RB_BIN" -f "$RB" -o json status >"$T/status.json"
}

res() {
  jq -r --arg n "sync/$1" ".actions[] | select(.name == \$n) | .result.$2" "$T/status.json"
}

table_md5() {
  rb_psql "$1" "select md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) from ($2) t"
}

sync_jobs() {
  if [[ ${RB_SYNC_JOBS:-1} -gt 1 ]]; then
    sed -i "s/^  to: legacy\$/  to: legacy\n  jobs: $RB_SYNC_JOBS/" "$1"
    grep -q "^  jobs: $RB_SYNC_JOBS\$" "$1" || rb_fail "no sync.jobs in $1"
  fi
}

# The journal shows two tables of the sync phase in flight together (started, started, done).
sync_in_flight_together() {
  jq -r 'select(.phase == "sync" and (.event == "started" or .event == "done")) | .event' "$1" |
    head -n 2 | paste -sd' ' | grep -qx 'started started'
}
