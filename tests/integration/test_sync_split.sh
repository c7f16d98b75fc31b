#!/usr/bin/env bash
# split: N (issue 17, one table in key ranges), against real PostgreSQL. One table of 240,000
# changed rows (and legacy rows to update, and 4 deletions across the key) synced unsplit
# on one stream is the reference; split: 2, 3 and 4 over sync.jobs: 2 must end with legacy equal to
# it (rows and sums), one ledger row per range whose rows add up, the deletions applied once (by
# range 1, for the whole table), a table `after:` the split one started only once all its ranges
# were done, the plan showing each range with its bounds and rows, and the report adding the ranges
# up. A key that is not an integer is refused with a clear message. With sync.presync each pass has
# its own ranges, bounds and ledger rows; at a terminal the bounds are read when the phase is
# planned (the progress line counts each range) and the line names each range's stream.
# test_sync_split_resume.sh: killed after one range committed, and the shared snapshot.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/integration/sync/common.sh"
rb_require pg
T=$(rb_tmpdir)
NEW=$(rb_createdb splnew)
rb_psql "$NEW" - <"$SF/big_new.sql"
# 3 payments deleted in new that legacy holds, at both ends of the split key's range (a 4th below)
rb_psql "$NEW" "delete from payments where id in (30, 45003, 200001)"

legacy_db() {
  local db
  db=$(rb_createdb "$1")
  rb_psql "$db" - <"$SF/big_legacy.sql"
  # and one past new's last key: a deletion too (and legacy's key stream then ends after new's:
  # today a deletions search whose legacy stream ends first cancels new's stream inside the
  # snapshot's transaction, which the COPY then finds aborted; reported, not split's)
  rb_psql "$db" "insert into history_a values (200001, 1, '2026-01-02', 1.00, 2.00, 'stale'),
                                               (300000, 1, '2026-01-02', 1.00, 2.00, 'stale')"
  echo "$db"
}
# runbook DB STATE SPLIT JOBS: prints the path of a runbook syncing into DB
runbook() {
  sed -e "s|@STATE@|$2|" -e "s|@NEW@|$(rb_conninfo "$NEW")|" -e "s|@LEGACY@|$(rb_conninfo "$1")|" \
    -e "s|@SPLIT@|$3|" -e "s|@JOBS@|$4|" "$SF/split.yaml.in" >"$2.yaml"
  echo "$2.yaml"
}
legacy_md5() {
  echo "$(table_md5 "$1" "select * from history_a") $(table_md5 "$1" "select * from history_b")"
}
sums() { rb_psql "$1" "select count(*) || ' ' || sum(gross_pay) || ' ' || sum(net_pay) from history_a"; }

REF=$(legacy_db splref)
assert_exit 0 "$RB_BIN" -f "$(runbook "$REF" "$T/ref" 1 1)" execute --reason reference --yes
want=$(legacy_md5 "$REF")
want_sums=$(sums "$REF")
assert_eq 0 "$(rb_psql "$REF" "select count(*) from history_a where payment_id in (30, 45003, 200001, 300000)")" \
  "reference: the 4 deletions applied"
ref_rep=$(ls -t "$T"/ref/runs/*/report.json | head -1)
want_recovered=$(jq '.metrics.records_recovered' "$ref_rep")

for split in 2 3 4; do
  LEG=$(legacy_db "spl$split")
  RB=$(runbook "$LEG" "$T/s$split" "$split" 2)
  assert_exit 0 "$RB_BIN" -f "$RB" validate
  if [[ $split == 3 ]]; then
    assert_exit 0 "$RB_BIN" -f "$RB" plan
    assert_contains "$RB_OUT" "sync/payments#1: upsert 'payments' rows changed since cutover from 'new' into 'history_a' on 'legacy', key range 1 of 3" \
      "plan: one action per range"
    assert_contains "$RB_OUT" "key range 1 of 3 (split: 3) of 'payments' on key 'payment_id', a transaction and a ledger row ('payments#1') of its own: (id < 90001 OR id IS NULL)" \
      "plan: range 1, open below (min 10001, max 250000 of the changed rows)"
    assert_contains "$RB_OUT" "key range 2 of 3 (split: 3) of 'payments' on key 'payment_id', a transaction and a ledger row ('payments#2') of its own: id >= 90001 AND id < 170001" \
      "plan: range 2"
    assert_contains "$RB_OUT" "its own: id >= 170001" "plan: range 3, open above"
    assert_contains "$RB_OUT" "WHERE \"created_at\" >= '2026-11-01T00:00:00Z'::timestamptz AND id >= 90001 AND id < 170001) TO STDOUT" \
      "plan: the range's COPY"
    assert_contains "$RB_OUT" "deletions: this range looks for the whole table's" "plan: range 1 does the deletions"
    assert_contains "$RB_OUT" "starts once these have finished: sync/payments#1 (after:), sync/payments#2 (after:), sync/payments#3 (after:)" \
      "plan: the table after it waits for every range"
    assert_exit 0 "$RB_BIN" -f "$RB" -o json plan
    echo "$RB_OUT" >"$T/plan.json"
    assert_eq "79999 80000 79999" \
      "$(jq -r '[.actions[] | select(.name | startswith("sync/payments#")) | .fields.observed.rows] | map(tostring) | join(" ")' "$T/plan.json")" \
      "plan -o json: the rows each range expects (one deleted in ranges 1 and 3 each)"
    assert_eq '[null,"90001"] ["90001","170001"] ["170001",null]' \
      "$(jq -c '.actions[] | select(.name | startswith("sync/payments#")) | .fields.observed.split.bounds' "$T/plan.json" | paste -sd' ')" \
      "plan -o json: each range's bounds"
    assert_eq "1 3" "$(jq -r '.actions[] | select(.name == "sync/payments#1") | "\(.fields.range) \(.fields.ranges)"' "$T/plan.json")" \
      "plan -o json: range and ranges in the definition"
    # the definition names the bounds' places: its hash does not move with the rows
    assert_contains "$(jq -r '.actions[] | select(.name == "sync/payments#2") | .fields.sql.source[0]' "$T/plan.json")" \
      "id >= <split bound 1> AND id < <split bound 2>" "the definition's COPY names the bounds' places"
    rb_psql "$NEW" "insert into payments select 400000, employee_id, pay_date, gross_amount, net_amount, memo, created_at
                    from payments where id = 250000"
    assert_exit 0 "$RB_BIN" -f "$RB" -o json plan
    assert_eq '["140001","270001"]' "$(jq -c '.actions[] | select(.name == "sync/payments#2") | .fields.observed.split.bounds' <<<"$RB_OUT")" \
      "a row more (key 400000): other bounds..."
    assert_eq "$(jq -r .plan_sha256 "$T/plan.json")" "$(jq -r .plan_sha256 <<<"$RB_OUT")" "...and the same plan hash"
    rb_psql "$NEW" "delete from payments where id = 400000"
  fi
  assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "split $split" --yes
  assert_eq "$want" "$(legacy_md5 "$LEG")" "split: $split over jobs: 2: legacy byte for byte as unsplit"
  assert_eq "$want_sums" "$(sums "$LEG")" "split: $split: rows and sums as unsplit"
  run_id=$("$RB_BIN" -f "$RB" -o json status | jq -r .run_id)
  assert_eq "$split 239998" \
    "$(rb_psql "$LEG" "select count(*) || ' ' || sum(rows) from rollbackctl_ledger where run_id = '$run_id' and table_name like 'payments#%'")" \
    "split: $split: one ledger row per range, their rows add up"
  assert_eq 4 "$(rb_psql "$LEG" "select sum(deleted) from rollbackctl_ledger where run_id = '$run_id'")" \
    "split: $split: the 4 deletions applied once"
  assert_eq 4 "$(rb_psql "$LEG" "select deleted from rollbackctl_ledger where run_id = '$run_id' and table_name = 'payments#1'")" \
    "split: $split: by range 1"
  journal=$(ls "$T/s$split"/runs/*/journal.jsonl)
  order=$(jq -r 'select(.phase == "sync" and (.event == "started" or .event == "done")) | .action + " " + .event' "$journal" | paste -sd,)
  [[ $order == "sync/payments#1 started,sync/payments#2 started,"* ]] ||
    rb_fail "split: $split: ranges 1 and 2 did not start together: $order"
  before=${order%%sync/after_payments started*}
  [[ $(grep -o 'sync/payments#[0-9]* done' <<<"$before" | wc -l) == "$split" ]] ||
    rb_fail "split: $split: after_payments did not start last: $order"
  rb_ok "split: $split: two ranges in flight at once, the table after it once all were done"
  assert_eq "$split" "$(jq -r 'select(.event == "fact" and .data.key == "sync_split") | .data.value.payments.bounds | length + 1' "$journal")" \
    "split: $split: the bounds journaled once, as a fact"
  rep=$(ls -t "$T/s$split"/runs/*/report.json | head -1)
  assert_eq "payments $split 239998 4 done" \
    "$(jq -r '.sync_tables[] | select(.table == "payments") | "\(.table) \(.ranges) \(.at_risk) \(.deleted) \(.state)"' "$rep")" \
    "split: $split: the report's table adds its ranges up"
  assert_eq "$want_recovered" "$(jq '.metrics.records_recovered' "$rep")" "split: $split: the run's totals count every range once"
done

# --- a second run: every range finds its rows equal ---------------------------------------------------
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason again --yes
assert_contains "$RB_OUT" "0 inserted, 0 updated" "a second run changes nothing"
assert_eq "$want" "$(legacy_md5 "$LEG")" "and legacy stays as it was"

# --- a key that is not an integer -------------------------------------------------------------------
LEG=$(legacy_db splbad)
RB=$(runbook "$LEG" "$T/bad" 2 2)
rb_psql "$LEG" "alter table history_a alter column payment_id type text"
sed -i '0,/^        payment_id: id$/s//        payment_id: id::text/' "$RB"
assert_exit 0 "$RB_BIN" -f "$RB" plan
assert_contains "$RB_ERR" "split: 2 needs a key of an integer type (smallint, integer, bigint); key 'payment_id' reads 'id::text' on 'new' as text: drop 'split' for this table" \
  "plan: a text key is refused, saying why"
assert_exit 1 "$RB_BIN" -f "$RB" execute --reason "text key" --yes
assert_contains "$RB_ERR" "sync table 'payments': split: 2 needs a key of an integer type" "execute: the ranges fail with it"
assert_eq 0 "$(rb_psql "$LEG" "select count(*) from rollbackctl_ledger")" "nothing committed"

# --- with sync.presync: each pass its own ranges, ledger rows and bounds ------------------------------------
LEG=$(legacy_db splpre)
RB=$(runbook "$LEG" "$T/pre" 2 2)
sed -i 's/^  jobs: 2$/  jobs: 2\n  presync: true/' "$RB"
assert_exit 0 "$RB_BIN" -f "$RB" execute --reason "presync and split" --yes
run_id=$("$RB_BIN" -f "$RB" -o json status | jq -r .run_id)
assert_eq "payments#1 payments#2 presync/payments#1 presync/payments#2" \
  "$(rb_psql "$LEG" "select string_agg(table_name, ' ' order by table_name) from rollbackctl_ledger where run_id = '$run_id' and table_name like '%payments#%'")" \
  "a ledger row per range and pass"
assert_eq 239998 "$(rb_psql "$LEG" "select sum(rows) from rollbackctl_ledger where run_id = '$run_id' and table_name like 'presync/payments#%'")" \
  "the pre-sync's ranges copied every changed row"
assert_eq 0 "$(rb_psql "$LEG" "select sum(rows) from rollbackctl_ledger where run_id = '$run_id' and table_name like 'payments#%'")" \
  "the sync phase's ranges, from the pre-sync's instant (every range of it committed), found nothing new"
journal=$(ls "$T"/pre/runs/*/journal.jsonl)
assert_eq "presync/payments" "$(jq -r 'select(.event == "fact" and .data.key == "sync_split") | .data.value | keys[]' "$journal" | grep presync | sort -u)" \
  "the pre-sync's bounds journaled under its own name"
assert_eq "$want" "$(legacy_md5 "$LEG")" "legacy byte for byte as unsplit"

# --- at a terminal: the bounds read when the phase is planned (each range counted for the progress
#     line), journaled all the same; the line names each range's stream ---------------------------------
LEG=$(legacy_db spltty)
# Each range's write into history_a lasts 1.5 s, past the second after which the line is drawn, so
# the line is there while both ranges are in flight (without it a quick machine drew it only once
# the ranges were done, while the table after them ran, and CI saw no range's stream).
rb_psql "$LEG" "create function slow_write() returns trigger language plpgsql as
                  \$\$ begin perform pg_sleep(1.5); return null; end \$\$;
                create trigger slow_write after insert on history_a
                  for each statement execute function slow_write()"
RB=$(runbook "$LEG" "$T/tty" 2 2)
script -qefc "stty cols 250; $(printf '%q ' "$RB_BIN" -f "$RB" execute --reason tty --yes)" /dev/null >"$T/tty.out" 2>&1 ||
  rb_fail "execute at a terminal failed: $(tail -5 "$T/tty.out")"
tty_out=$(tr '\r' '\n' <"$T/tty.out")
assert_contains "$tty_out" "119999 at risk: 103333 inserted, 16666 updated" "range 1's result"
assert_contains "$tty_out" "119999 at risk: 119999 inserted" "range 2's result"
assert_eq "$want" "$(legacy_md5 "$LEG")" "at a terminal too: legacy byte for byte as unsplit"
journal=$(ls "$T"/tty/runs/*/journal.jsonl)
assert_eq '["130001"]' "$(jq -c 'select(.event == "fact" and .data.key == "sync_split") | .data.value.payments.bounds' "$journal")" \
  "the bounds read at plan time are the ones journaled"
assert_contains "$tty_out" "of 240238 rows" "progress: the total of every range and table"
grep -qE "; payments#1 .*, payments#2 " <<<"$tty_out" || rb_fail "progress names no range's stream: $(grep -m3 'ranges done' <<<"$tty_out")"
rb_ok "progress: each range's stream by name, both in flight at once"
