#!/usr/bin/env bash
# test_presync.sh again with sync.jobs: 2 (issue 17): see that file.
export RB_SYNC_JOBS=2 RB_TEST_NAME=test_presync_jobs
exec bash "$RB_SOURCE_DIR/tests/integration/test_presync.sh"
