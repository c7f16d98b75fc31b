#!/usr/bin/env bash
# test_sync_resume.sh again with sync.jobs: 2 (issue 17): see that file.
export RB_SYNC_JOBS=2 RB_TEST_NAME=test_sync_resume_jobs
exec bash "$RB_SOURCE_DIR/tests/integration/test_sync_resume.sh"
