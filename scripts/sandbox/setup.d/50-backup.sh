#!/usr/bin/env bash
# The sandbox's nightly backup job, as production has one: a pg_dump custom-format archive of
# `legacy` in $RB_SANDBOX_DIR/backups/legacy.dump (what `rollbackctl prepare` checks: exists,
# intact, recent, restores), and the empty scratch database `restore_test` it restores into.
# Run by scripts/rehearse after the data is loaded, every time, so the backup is always fresh.
set -euo pipefail
: "${RB_SANDBOX_DIR:?} ${RB_TEST_PGHOST:?} ${RB_TEST_PGPORT:?} ${RB_TEST_PGUSER:?}"
bin=${RB_TEST_PGBIN:-/usr/lib/postgresql/15/bin}
conn=(-h "$RB_TEST_PGHOST" -p "$RB_TEST_PGPORT" -U "$RB_TEST_PGUSER")

mkdir -p "$RB_SANDBOX_DIR/backups"
chmod 0700 "$RB_SANDBOX_DIR/backups"
PGCONNECT_TIMEOUT=10 "$bin/pg_dump" "${conn[@]}" -Fc -f "$RB_SANDBOX_DIR/backups/legacy.dump.tmp" legacy
mv -f "$RB_SANDBOX_DIR/backups/legacy.dump.tmp" "$RB_SANDBOX_DIR/backups/legacy.dump"
if [[ -z "$(PGCONNECT_TIMEOUT=10 "$bin/psql" -X -At "${conn[@]}" -d postgres \
  -c "select 1 from pg_database where datname = 'restore_test'")" ]]; then
  PGCONNECT_TIMEOUT=10 "$bin/psql" -X -q "${conn[@]}" -d postgres -c "create database restore_test"
fi
echo "sandbox: legacy backed up to $RB_SANDBOX_DIR/backups/legacy.dump; scratch database restore_test ready" >&2
