#!/usr/bin/env bash
# test_prepare: the prepare command's interfaces (issue 13, "Output"), on runbooks that need no
# server: the text lines, the -o json document, the JUnit XML read by a real XML parser (Python's
# xml.etree, as Jenkins and GitLab read it) with a NOT_READY check as a failure, the prepare
# metrics beside the run metrics (promtool accepts them), and the exit codes: 0 only when all
# READY, 1 otherwise, 5 without a prepare section, 2 for bad options. A reason full of XML markup
# and non-ASCII still makes a well-formed file that reads back exactly. (All READY on the sandbox, with every
# check: test_rehearse_reset.)
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
T=$(rb_tmpdir)

write_runbook() { # FILE PREPARE-BODY
  {
    cat <<EOF
version: 1
name: prepare-test
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
metrics: { textfile_dir: $T/textfile }
targets:
  legacy: { driver: postgres, conninfo: "host=127.0.0.1 port=9 dbname=legacy connect_timeout=2" }
EOF
    printf '%s\n' "$2"
  } >"$1"
}
mkdir -p "$T/textfile"

# --- no prepare section: exit 5, nothing written -------------------------------------------------
write_runbook "$T/none.yaml" ""
assert_exit 5 "$RB_BIN" -f "$T/none.yaml" prepare
assert_contains "$RB_ERR" "the runbook has no 'prepare' section"
assert_exit 2 "$RB_BIN" -f "$T/none.yaml" prepare --junit
assert_exit 2 "$RB_BIN" -f "$T/none.yaml" prepare extra
assert_exit 2 "$RB_BIN" -f "$T/none.yaml" prepare --nope

# --- contacts only: the backup checks are NOT_READY, contacts READY (hostile text in it) ---------
write_runbook "$T/contacts.yaml" 'prepare:
  contacts:
    - { role: "R&D <lead> \"payroll\"", name: Dana, email: dana@example.com }
    - { role: DBA, phone: "+1 555 0101" }'
assert_exit 1 "$RB_BIN" -f "$T/contacts.yaml" prepare --junit "$T/junit.xml"
assert_contains "$RB_OUT" "Readiness of runbook 'prepare-test'"
check_line() { grep -E "^  $1 +" <<<"$RB_OUT" | sed -E 's/ +/ /g'; } # NAME: its text line, spaces squeezed
assert_contains "$(check_line backup.exists)" "backup.exists NOT_READY the runbook names no backup"
assert_contains "$(check_line contacts)" "contacts READY 2 listed (R&D <lead> \"payroll\", DBA)"
assert_contains "$RB_OUT" "  DBA: +1 555 0101"
assert_contains "$RB_ERR" "NOT_READY" "the error line counts the NOT_READY checks"

assert_exit 1 "$RB_BIN" -f "$T/contacts.yaml" -o json prepare --junit "$T/junit.xml"
printf '%s' "$RB_OUT" >"$T/p.json"
assert_eq "False" "$(rb_jget "$T/p.json" 'd["ready"]')" "json: ready false"
assert_eq "NOT_READY" "$(rb_jget "$T/p.json" '[c["status"] for c in d["checks"] if c["name"] == "backup.recent"][0]')" \
  "json: backup.recent NOT_READY"
assert_eq "READY" "$(rb_jget "$T/p.json" '[c["status"] for c in d["checks"] if c["name"] == "contacts"][0]')"
assert_eq "True" "$(rb_jget "$T/p.json" 'all(set(c) == {"name", "status", "reason", "duration_ms"} for c in d["checks"])')" \
  "json: every check has name, status, reason, duration_ms"
assert_eq "Dana|dana@example.com|+1 555 0101" \
  "$(rb_jget "$T/p.json" '"|".join([d["contacts"][0]["name"], d["contacts"][0]["email"], d["contacts"][1]["phone"]])')" \
  "json: the contacts"
assert_eq "None" "$(rb_jget "$T/p.json" 'd["backup_age_seconds"]')" "json: no backup, no age"

# JUnit: well-formed, one testcase per check, a failure for each NOT_READY one, with its reason
/usr/bin/python3 - "$T/junit.xml" "$T/p.json" >"$T/junit.check" <<'EOF' || rb_fail "JUnit: $(cat "$T/junit.check")"
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
doc = json.load(open(sys.argv[2]))
assert root.tag == "testsuites", root.tag
suites = root.findall("testsuite")
assert len(suites) == 1, suites
cases = suites[0].findall("testcase")
assert [c.get("name") for c in cases] == [c["name"] for c in doc["checks"]], [c.get("name") for c in cases]
bad = [c["name"] for c in doc["checks"] if c["status"] == "NOT_READY"]
failed = [c.get("name") for c in cases if c.find("failure") is not None]
assert failed == bad, (failed, bad)
assert int(suites[0].get("failures")) == len(bad) and int(suites[0].get("tests")) == len(cases)
for c in cases:
    f = c.find("failure")
    want = [x["reason"] for x in doc["checks"] if x["name"] == c.get("name")][0]
    if f is not None:
        assert f.get("message") == want, (f.get("message"), want)
        assert f.get("type") == "NOT_READY"
    else:
        assert c.find("system-out").text == want, c.find("system-out").text
assert [c.get("classname") for c in cases if c.get("name") == "backup.exists"] == ["rollbackctl.prepare.backup"]
print("ok", len(cases), len(bad))
EOF
assert_contains "$(cat "$T/junit.check")" "ok" "JUnit XML parses, one testcase per check, NOT_READY as failures with the reason"

# metrics: beside the run metrics, never in their place; promtool accepts them
assert_eq "no" "$([[ -e $T/state/metrics.prom ]] && echo yes || echo no)" "prepare does not write the run metrics file"
promtool check metrics <"$T/state/prepare.prom" >"$T/promtool.out" 2>&1 || rb_fail "promtool: $(cat "$T/promtool.out")"
rb_ok "promtool check metrics accepts state_dir/prepare.prom"
assert_contains "$(cat "$T/state/prepare.prom")" 'rollbackctl_prepare_ready{runbook="prepare-test"} 0'
assert_contains "$(cat "$T/state/prepare.prom")" 'rollbackctl_prepare_check_ready{runbook="prepare-test",check="contacts"} 1'
assert_contains "$(cat "$T/state/prepare.prom")" 'rollbackctl_prepare_check_ready{runbook="prepare-test",check="backup.exists"} 0'
cmp -s "$T/state/prepare.prom" "$T/textfile/rollbackctl-prepare-test-prepare.prom" ||
  rb_fail "the textfile folder's copy differs"
rb_ok "a copy in the textfile folder, named apart from the run's"

# --- no contacts: contacts NOT_READY; markup and non-ASCII in a reason still give well-formed XML -
write_runbook "$T/nocontacts.yaml" 'prepare:
  backup: { target: legacy, file: "'"$T"'/caf\xe9 <&>\"x\".dump" }'
assert_exit 1 "$RB_BIN" -f "$T/nocontacts.yaml" prepare --junit "$T/junit2.xml"
assert_contains "$(check_line contacts)" "contacts NOT_READY the runbook lists no contacts"
/usr/bin/python3 -c 'import sys, xml.etree.ElementTree as ET; r = ET.parse(sys.argv[1]).getroot(); print(next(r.iter("failure")).get("message"))' \
  "$T/junit2.xml" >"$T/junit2.check" 2>&1 || rb_fail "JUnit with markup in a reason: $(cat "$T/junit2.check")"
assert_contains "$(cat "$T/junit2.check")" "café <&>\"x\".dump" "a reason with markup and non-ASCII reads back exactly from the JUnit XML"

# --- --junit to a folder that does not exist: a clear error, exit 1 ------------------------------
assert_exit 1 "$RB_BIN" -f "$T/contacts.yaml" prepare --junit "$T/missing/dir/junit.xml"
assert_contains "$RB_ERR" "JUnit report not written"

rb_ok "prepare's interfaces hold"
