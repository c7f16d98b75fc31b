#!/usr/bin/env bash
# --version (issue 16): the version and `git describe --always --dirty` of the tree the binary was
# built from (cmake/version.cmake writes it into the build dir at every build); outside a git
# checkout (a release tarball) the plain version. The journal's run_started records the commit.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

T=$(rb_tmpdir)
version=$(sed -n 's/^project(rollbackctl VERSION \([0-9.]*\) .*/\1/p' "$RB_SOURCE_DIR/CMakeLists.txt")
assert_contains "$version" "." "the project version read from CMakeLists.txt"
if git -C "$RB_SOURCE_DIR" rev-parse --git-dir >/dev/null 2>&1; then
  commit=$(git -C "$RB_SOURCE_DIR" describe --always --dirty)
  assert_exit 0 "$RB_BIN" --version
  assert_eq "rollbackctl $version (commit $commit)" "$RB_OUT" "--version: the version and the tree's commit"
else
  commit=
  assert_exit 0 "$RB_BIN" --version
  assert_eq "rollbackctl $version" "$RB_OUT" "--version outside a git checkout: the plain version"
fi

# the generator on a tree without git (a tarball): no commit, the plain version
mkdir "$T/tarball"
cp -r "$RB_SOURCE_DIR/cmake" "$T/tarball/"
GIT_CEILING_DIRECTORIES=$T cmake -DRB_SRC="$T/tarball" -DRB_OUT="$T/v.h" -DRB_VERSION=9.8.7 \
  -P "$T/tarball/cmake/version.cmake"
assert_contains "$(cat "$T/v.h")" '#define RB_BUILD_VERSION "9.8.7"' "tarball: the version"
assert_contains "$(cat "$T/v.h")" '#define RB_BUILD_COMMIT ""' "tarball: no commit"
# and on a git checkout, with a change not committed: -dirty
git init -q "$T/repo"
cp -r "$RB_SOURCE_DIR/cmake" "$T/repo/"
git -C "$T/repo" add cmake
git -C "$T/repo" -c user.name=t -c user.email=t@example.test commit -qm one
head=$(git -C "$T/repo" rev-parse --short HEAD)
cmake -DRB_SRC="$T/repo" -DRB_OUT="$T/r.h" -DRB_VERSION=1.0.0 -P "$T/repo/cmake/version.cmake"
assert_contains "$(cat "$T/r.h")" "#define RB_BUILD_COMMIT \"$head\"" "a clean checkout: its commit"
echo "# changed" >>"$T/repo/cmake/version.cmake"
cmake -DRB_SRC="$T/repo" -DRB_OUT="$T/r.h" -DRB_VERSION=1.0.0 -P "$T/repo/cmake/version.cmake"
assert_contains "$(cat "$T/r.h")" "#define RB_BUILD_COMMIT \"$head-dirty\"" "a changed checkout: -dirty"

# the journal's run_started records the commit the binary was built from
cat >"$T/runbook.yaml" <<YAML
version: 1
name: versiontest
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=1 dbname=none" }
restore:
  - name: Nothing
    run: ["true"]
YAML
assert_exit 0 "$RB_BIN" -f "$T/runbook.yaml" execute --reason version --yes
started=$(jq -c 'select(.event == "run_started") | .data | {version, commit}' "$T"/state/runs/*/journal.jsonl)
if [[ -n "$commit" ]]; then
  assert_eq "{\"version\":\"$version\",\"commit\":\"$commit\"}" "$started" "run_started: version and commit"
else
  assert_eq "{\"version\":\"$version\",\"commit\":null}" "$started" "run_started: version, no commit"
fi
