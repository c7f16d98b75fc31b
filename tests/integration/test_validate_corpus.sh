#!/usr/bin/env bash
# test_validate_corpus.sh - every runbook in tests/runbooks/broken/ through `rollbackctl validate`:
# exit 5, nothing on stdout, and stderr exactly as NAME.expected (FILE:LINE:COL lines, sorted, all
# problems of the file in one run). Every runbook in tests/runbooks/good/ validates (exit 0), with
# stderr exactly as NAME.expected when there is one (warnings).
# Needs no server.
set -u
src=${RB_SOURCE_DIR:?RB_SOURCE_DIR not set}
bin=${RB_BIN:?RB_BIN not set}
export NO_COLOR=1
unset ROLLBACKCTL_RUNBOOK
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# validate reads cluster targets' kubeconfigs (their contexts): not this machine's
unset KUBECONFIG
export HOME=$tmp
fail=0 n=0

cd "$src/tests/runbooks/broken" || exit 1
for rbk in *.yaml; do
    name=${rbk%.yaml}
    n=$((n + 1))
    if [ ! -f "$name.expected" ]; then
        echo "FAIL $rbk: no $name.expected"
        fail=1
        continue
    fi
    "$bin" -f "$rbk" validate >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" -ne 5 ]; then
        echo "FAIL $rbk: exit $rc, expected 5"
        fail=1
    fi
    if [ -s "$tmp/out" ]; then
        echo "FAIL $rbk: unexpected stdout:"
        cat "$tmp/out"
        fail=1
    fi
    if ! diff -u "$name.expected" "$tmp/err" >"$tmp/diff"; then
        echo "FAIL $rbk: diagnostics differ:"
        cat "$tmp/diff"
        fail=1
    fi
    # the JSON form carries the same errors and says invalid (its documents are read below,
    # all in one python); stderr has only the error line that the document's error object holds
    "$bin" -o json -f "$rbk" validate >"$tmp/$name.json" 2>"$tmp/jerr"
    rc=$?
    errs=$(grep -v '^rollbackctl: ' "$name.expected" | grep -c ': error: ')
    want_err=$(grep '^rollbackctl: ' "$name.expected")
    if [ "$rc" -ne 5 ] || [ "$(cat "$tmp/jerr")" != "$want_err" ]; then
        echo "FAIL $rbk: -o json exited $rc (stderr: $(cat "$tmp/jerr"))"
        fail=1
    fi
    printf '%s %s %s\n' "$rbk" "$tmp/$name.json" "$errs" >>"$tmp/json-checks"
done
/usr/bin/python3 - "$tmp/json-checks" <<'PY' || fail=1
import json, sys
bad = 0
for line in open(sys.argv[1]):
    rbk, path, errs = line.split()
    try:
        d = json.load(open(path))
        ok = d["valid"] is False and len(d["errors"]) == int(errs)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        print("FAIL %s: -o json does not report %s errors" % (rbk, errs))
        bad = 1
sys.exit(bad)
PY
if [ "$n" -lt 30 ]; then
    echo "FAIL only $n broken runbooks (want at least 30)"
    fail=1
fi

cd "$src/tests/runbooks/good" || exit 1
for rbk in *.yaml; do
    "$bin" -f "$rbk" validate >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" -ne 0 ] || grep -q ': error: ' "$tmp/err"; then
        echo "FAIL good/$rbk: exit $rc"
        cat "$tmp/err"
        fail=1
    fi
    grep -q "^runbook '.*' is valid (" "$tmp/out" || { echo "FAIL good/$rbk: no summary line"; fail=1; }
    # a good runbook with warnings (a driver lacking an optional operation) has them in NAME.expected
    if [ -f "${rbk%.yaml}.expected" ] && ! diff -u "${rbk%.yaml}.expected" "$tmp/err" >"$tmp/diff"; then
        echo "FAIL good/$rbk: warnings differ:"
        cat "$tmp/diff"
        fail=1
    fi
done

# the example shipped in config/ validates with no errors
"$bin" -f "$src/config/runbook.example.yaml" validate >"$tmp/out" 2>"$tmp/err" || {
    echo "FAIL config/runbook.example.yaml:"
    cat "$tmp/err"
    fail=1
}

# config/runbook.schema.json (for editors) accepts the example and the good runbooks. The
# system's python3 with Debian's python3-jsonschema and python3-yaml (scripts/install-deps): a
# missing module fails the test rather than skip the check.
if /usr/bin/python3 -c 'import jsonschema, yaml' 2>/dev/null; then
    /usr/bin/python3 - "$src/config/runbook.schema.json" "$src/config/runbook.example.yaml" "$src"/tests/runbooks/good/*.yaml <<'PY' || fail=1
import json, sys, yaml, jsonschema
class L(yaml.SafeLoader):
    pass
# timestamps stay strings, as rollbackctl reads them
L.yaml_implicit_resolvers = {k: [r for r in v if r[0] != 'tag:yaml.org,2002:timestamp']
                             for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
bad = 0
for f in sys.argv[2:]:
    for e in v.iter_errors(yaml.load(open(f), Loader=L)):
        print("FAIL schema: %s: %s: %s" % (f, list(e.absolute_path), e.message[:200]))
        bad += 1
sys.exit(1 if bad else 0)
PY
else
    echo "FAIL: /usr/bin/python3 lacks jsonschema or yaml: run scripts/install-deps (python3-jsonschema python3-yaml)"
    fail=1
fi

[ "$fail" -eq 0 ] && echo "ok: $n broken runbooks, exact diagnostics and exit 5; good runbooks valid"
exit "$fail"
