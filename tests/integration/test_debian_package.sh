#!/usr/bin/env bash
# test_debian_package: debian/ builds a package with dpkg-buildpackage from a copy of the tree (the
# tree itself stays as it was), the package holds what the man page and README promise at the
# paths they name, its Depends come from shlibdeps, the binary extracted from it runs on its own
# example runbook, and lintian finds no error. No test servers needed.
source "$RB_SOURCE_DIR/tests/integration/lib.sh"

for tool in dpkg-buildpackage dpkg-deb dpkg-parsechangelog dh lintian man; do
  command -v "$tool" >/dev/null 2>&1 || rb_skip "$tool is not installed (scripts/install-deps)"
done

src=$RB_SOURCE_DIR
tmp=$(rb_tmpdir)
version=$(sed -n 's/^project(rollbackctl VERSION \([0-9.]*\) .*/\1/p' "$src/CMakeLists.txt")
[[ -n "$version" ]] || rb_fail "no project VERSION in CMakeLists.txt"
deb_version=$(cd "$src" && dpkg-parsechangelog -S Version)
assert_eq "$version" "${deb_version%%-*}" "debian/changelog's version is CMakeLists.txt's"

# The tree as it is now (tracked and new files, not what .gitignore leaves out: no build folders),
# or all of it when this is not a git checkout (a tarball).
in_git=0
status_before=""
copy=$tmp/src/rollbackctl-$version
mkdir -p "$copy"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  in_git=1
  status_before=$(git -C "$src" status --porcelain --ignored -- debian obj-\*)
  (cd "$src" && git ls-files -z -co --exclude-standard |
    while IFS= read -r -d '' f; do [[ -e "$f" ]] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -xf - -C "$copy"
else
  (cd "$src" && tar --exclude='./build*' --exclude=./.sandbox --exclude='./obj-*' -cf - .) |
    tar -xf - -C "$copy"
fi
[[ -x "$copy/debian/rules" ]] && rb_ok "tree copied ($(find "$copy" -type f | wc -l) files)" ||
  rb_fail "debian/rules missing or not executable in the copy"

t0=$SECONDS
if ! (cd "$copy" && DEB_BUILD_OPTIONS="noddebs nocheck parallel=${RB_BUILD_JOBS:-2}" \
      timeout 1200 dpkg-buildpackage -us -uc -b >"$tmp/build.log" 2>&1); then
  tail -n 40 "$tmp/build.log" >&2
  rb_fail "dpkg-buildpackage -us -uc -b failed (log above)"
fi
rb_ok "dpkg-buildpackage -us -uc -b ($((SECONDS - t0)) s)"
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=$tmp/src/rollbackctl_${deb_version}_${arch}.deb
changes=$tmp/src/rollbackctl_${deb_version}_${arch}.changes
[[ -f "$deb" && -f "$changes" ]] && rb_ok "built $(basename "$deb")" ||
  rb_fail "no $(basename "$deb") or .changes in $tmp/src: $(ls "$tmp/src")"
if (( in_git )); then
  assert_eq "$status_before" "$(git -C "$src" status --porcelain --ignored -- debian obj-\*)" \
    "the source tree is left as it was (nothing built in it)"
fi

# What is in it: the binary, the man page, the documents, the example runbook beside its
# templates, the schema.
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/rollbackctl ./usr/share/man/man1/rollbackctl.1.gz \
         ./usr/share/doc/rollbackctl/copyright ./usr/share/doc/rollbackctl/changelog.gz \
         ./usr/share/doc/rollbackctl/README.md ./usr/share/doc/rollbackctl/runbook.md \
         ./usr/share/doc/rollbackctl/architecture.md ./usr/share/doc/rollbackctl/operations.md \
         ./usr/share/doc/rollbackctl/json.md \
         ./usr/share/rollbackctl/runbook.example.yaml ./usr/share/rollbackctl/runbook.schema.json \
         ./usr/share/rollbackctl/templates/leadership.txt ./usr/share/rollbackctl/templates/staff.txt \
         ./usr/share/rollbackctl/templates/staff-pending.txt \
         ./usr/share/rollbackctl/templates/technical.txt; do
  grep -qxF "$f" <<<"$contents" && rb_ok "package holds $f" || rb_fail "package lacks $f"
done
for t in "$src"/config/templates/*; do
  grep -qxF "./usr/share/rollbackctl/templates/$(basename "$t")" <<<"$contents" ||
    rb_fail "template $(basename "$t") of config/templates is not in the package"
done
rb_ok "every template of config/templates is in the package"
assert_not_contains "$contents" "/usr/local" "nothing under /usr/local"

# Dependencies from shlibdeps (not written by hand in debian/control), the client programs
# prepare runs as a recommendation.
depends=$(dpkg-deb -f "$deb" Depends)
depends_names=$(tr ',|' '\n\n' <<<"$depends" | awk '{print $1}')
for lib in libc6 libpq5 libcurl4 libcjson1 libyaml-0-2 libssl3; do
  grep -qxF "$lib" <<<"$depends_names" && rb_ok "Depends names $lib" ||
    rb_fail "Depends lacks $lib: '$depends'"
done
assert_contains "$(dpkg-deb -f "$deb" Recommends)" "postgresql-client" "Recommends postgresql-client"
assert_not_contains "$(cat "$src/debian/control")" "libpq5" "libpq5 comes from shlibdeps, not debian/control"

# The extracted binary, on its own installed example runbook.
root=$tmp/root
dpkg-deb -x "$deb" "$root"
bin=$root/usr/bin/rollbackctl
assert_exit 0 "$bin" --version
assert_contains "$RB_OUT" "rollbackctl $version" "--version of the packaged binary"
assert_exit 0 env -u ROLLBACKCTL_RUNBOOK "$bin" -f "$root/usr/share/rollbackctl/runbook.example.yaml" validate
assert_contains "$RB_OUT" "runbook 'payroll-rollback' is valid" \
  "the installed example runbook validates (templates found beside it)"
assert_not_contains "$RB_ERR" "error:" "no error from validate"
# A runbook copied as the README says (runbook and templates) validates from its new folder.
mkdir "$tmp/mine"
cp -r "$root/usr/share/rollbackctl/runbook.example.yaml" "$root/usr/share/rollbackctl/templates" "$tmp/mine/"
assert_exit 0 "$bin" -f "$tmp/mine/runbook.example.yaml" validate
assert_exit 0 jq -e '."$schema" != null' "$root/usr/share/rollbackctl/runbook.schema.json"

# The man page renders without warnings, and every installed path it names is in the package.
man_warnings=$(man --warnings -l "$root/usr/share/man/man1/rollbackctl.1.gz" 2>&1 >/dev/null)
assert_eq "" "$man_warnings" "man --warnings is quiet"
man_text=$(MANWIDTH=1000 man -l "$root/usr/share/man/man1/rollbackctl.1.gz" 2>/dev/null)
paths=$(grep -oE '/usr/share/(doc/)?rollbackctl/[A-Za-z0-9._/-]*[A-Za-z0-9]' <<<"$man_text" | sort -u)
[[ -n "$paths" ]] || rb_fail "the man page names no installed path"
while IFS= read -r p; do
  [[ -e "$root$p" ]] || rb_fail "the man page names $p, which the package does not install"
done <<<"$paths"
rb_ok "the man page's $(wc -l <<<"$paths") installed paths exist in the package"

# lintian: no error (its exit status, and no E: line); warnings are listed, not fatal.
t0=$SECONDS
lintian_rc=0
lintian --allow-root --tag-display-limit 0 "$changes" >"$tmp/lintian.out" 2>&1 || lintian_rc=$?
errors=$(grep -c '^E: ' "$tmp/lintian.out" || :)
warnings=$(grep -c '^W: ' "$tmp/lintian.out" || :)
sed -n 's/^\([EW]: \)/# lintian: \1/p' "$tmp/lintian.out"
assert_eq 0 "$lintian_rc" "lintian exits 0 ($(head -c 300 "$tmp/lintian.out"))"
assert_eq 0 "$errors" "lintian: no errors ($warnings warnings, $((SECONDS - t0)) s)"
