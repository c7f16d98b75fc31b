#!/usr/bin/env bash
# Hostile runbooks (issue 15): each generated case goes through `rollbackctl validate` and must end
# in exit 5 with its message (FILE:LINE:COL where there is a position) within bounded memory: peak
# RSS under RSS_LIMIT_KB, measured by getrusage of the child (python3, no GNU time needed). A hang
# is caught by a generous `timeout` (a guard, not a timing assertion). The limits are documented in
# docs/runbook.md ("Limits"). Small hostile files live in tests/runbooks/broken/ with their exact
# diagnostics; here are the ones too large to keep in the tree. No server.
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
export NO_COLOR=1

T=$(rb_tmpdir)
RSS_LIMIT_KB=$((128 * 1024))
# sanitizer builds carry shadow memory: the bound is about the input, not the instrumentation
# (grep without -q reads to the end: under pipefail, nm killed by SIGPIPE would fail the test)
if nm "$RB_BIN" 2>/dev/null | grep '__asan_init' >/dev/null; then RSS_LIMIT_KB=$((1024 * 1024)); fi

# run_validate NAME: validate $T/NAME.yaml; sets rc and rss_kb, stderr in $T/NAME.err with the
# tmp dir cut off
run_validate() {
  local out
  out=$(/usr/bin/python3 - "$RB_BIN" "$T/$1.yaml" "$T/$1.err" "$T/" <<'PY'
import resource, subprocess, sys
p = subprocess.run(["timeout", "120", sys.argv[1], "-f", sys.argv[2], "validate"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
with open(sys.argv[3], "wb") as err:
    err.write(p.stderr.replace(sys.argv[4].encode(), b""))
print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
)
  rc=${out% *}
  rss_kb=${out#* }
}

# has NAME LINE WHAT: LINE is one of the diagnostics of NAME (big outputs stay out of variables)
has() {
  grep -qxF -- "$2" "$T/$1.err" ||
    rb_fail "$3: '$2' not among the diagnostics; they begin: $(head -c 600 "$T/$1.err")"
  rb_ok "$3"
}

# check NAME WHAT EXPECTED_LINE: exit 5, EXPECTED_LINE among the diagnostics, peak RSS bounded
check() {
  run_validate "$1"
  [[ "$rc" != 124 ]] || rb_fail "$2: validate hung (killed after 120 s)"
  assert_eq "5" "$rc" "$2: exit 5"
  has "$1" "$3" "$2: the message"
  (( rss_kb < RSS_LIMIT_KB )) || rb_fail "$2: peak RSS ${rss_kb} kB, over ${RSS_LIMIT_KB} kB"
  rb_ok "$2: peak RSS ${rss_kb} kB (under ${RSS_LIMIT_KB} kB)"
}

head_rb() {
  cat <<YAML
version: 1
name: hostile
cutover: 2026-11-01T00:00:00Z
state_dir: $T/state
targets:
  legacy: { driver: postgres, conninfo: "dbname=legacy" }
YAML
}

# 1. a billion laughs, ten levels (10^10 strings if expanded), used inside restore steps: every
# step is fingerprinted by walking its tree, so a resolved alias used to be walked at full size
/usr/bin/python3 - "$T/laughs.yaml" <<'PY'
import sys
out = ['version: 1', 'name: hostile', 'cutover: 2026-11-01T00:00:00Z', 'state_dir: /tmp/x',
       'targets:', '  legacy: { driver: postgres, conninfo: "dbname=legacy" }',
       'restore:', '  - name: s0', '    run: [/bin/true]', '    env:',
       '      A: &a [' + ','.join(['"lol"'] * 10) + ']']
names = 'abcdefghij'
for i in range(1, 10):
    out.append('      %s: &%s [%s]' % (names[i].upper(), names[i], ','.join(['*' + names[i - 1]] * 10)))
for s in range(1, 50):
    out += ['  - name: s%d' % s, '    run: [/bin/true]', '    env: { X: *j, Y: [*j, *j, *j] }']
open(sys.argv[1], 'w').write('\n'.join(out) + '\n')
PY
check laughs "billion laughs in restore steps" "laughs.yaml:12:10: error: anchors are not supported ('&b'); write the value out"
has laughs "laughs.yaml:167:31: error: aliases are not supported ('*j'); write the value out" \
  "billion laughs: the last alias is named too"

# 2. 10,000-deep nesting: flow sequences, flow mappings, block sequences on one line
{ printf 'x: '; printf '%.0s[' {1..10000}; printf '%.0s]' {1..10000}; echo; } >"$T/deep_seq.yaml"
check deep_seq "10,000 nested flow lists" "deep_seq.yaml:1:67: error: YAML nested too deeply (more than 64 levels)"
{ printf 'x: '; printf '%.0s{a: ' {1..10000}; printf '1'; printf '%.0s}' {1..10000}; echo; } >"$T/deep_map.yaml"
check deep_map "10,000 nested flow mappings" "deep_map.yaml:1:256: error: YAML nested too deeply (more than 64 levels)"
{ printf 'x:\n  '; printf '%.0s- ' {1..10000}; echo 1; } >"$T/deep_block.yaml"
check deep_block "10,000 nested block lists" "deep_block.yaml:2:129: error: YAML nested too deeply (more than 64 levels)"

# 3. a 50 MB file (refused before it is read to the end), and 50 MB of one unterminated line
{ head_rb; /usr/bin/python3 -c 'import sys; sys.stdout.write("# padding padding padding padding padding padding padding\n" * 900000)'; } >"$T/big.yaml"
check big "a 50 MB runbook" "big.yaml: error: the runbook is larger than 8 MiB; a runbook this large is not one people can review: split it or cut it down"
head -c $((50 << 20)) /dev/zero | tr '\0' a >"$T/bigline.yaml"
check bigline "a 50 MB line" "bigline.yaml: error: the runbook is larger than 8 MiB; a runbook this large is not one people can review: split it or cut it down"

# 4. binary garbage: 4 MiB of seeded pseudo-random bytes
/usr/bin/python3 -c 'import random,sys; random.seed(15); sys.stdout.buffer.write(random.randbytes(4 << 20))' >"$T/garbage.yaml"
check garbage "4 MiB of random bytes" "garbage.yaml:1:1: error: invalid YAML: invalid leading UTF-8 octet (byte 0xfc); a runbook is UTF-8 text"

# 5. invalid UTF-8 deep in a large file: the position is the bad byte's, not 1:1
{ head_rb; echo 'x-notes:'; awk 'BEGIN { for (i = 1; i <= 20000; i++) print "  - note " i }'; printf '  - "caf\xe9 au lait"\n'; } >"$T/utf8.yaml"
check utf8 "invalid UTF-8 on line 20008" "utf8.yaml:20008:10: error: invalid YAML: invalid trailing UTF-8 octet (byte 0x20); a runbook is UTF-8 text"

# 6. 40,000 duplicate keys in one mapping: each named once, found through the hash set
{ head_rb; echo 'x-dups:'; awk 'BEGIN { for (i = 1; i <= 40000; i++) print "  k: " i }'; } >"$T/dups.yaml"
check dups "40,000 duplicate keys" "dups.yaml:40007:3: error: duplicate key 'k' (first at line 8)"
assert_eq "39999" "$(grep -c "duplicate key 'k'" "$T/dups.err")" "40,000 duplicate keys: each repeat named once"

# 7. 90,000 strings holding a NUL escape, 80 bytes a line: the position of each is found in one
# pass over the file (it was a pass per string: hours on a file this size)
{ head_rb; echo 'x-nuls:'; awk 'BEGIN { for (i = 1; i <= 90000; i++) print "  - \"a\\0 0123456789012345678901234567890123456789012345678901234567890123456789\"" }'; } >"$T/nuls.yaml"
check nuls "90,000 NUL escapes" "nuls.yaml:90007:7: error: a NUL character (\\0) in a string would cut it short ('a\\0 0123456789012345678901234567890123456789012345678901234567890123456789'); remove it"

# 8. 60,000 aliases of a 9,000-node anchor: past the alias budget they are not resolved
{ head_rb; echo 'x-big: &big'; awk 'BEGIN { for (i = 1; i <= 3000; i++) print "  - [a" i ", b" i "]" }'
  echo 'restore:'
  awk 'BEGIN { a = "*big"; for (j = 1; j < 30; j++) a = a ",*big"
               for (i = 1; i <= 2000; i++) print "  - { name: s" i ", run: [/bin/true], env: [" a "] }" }'; } >"$T/aliases.yaml"
check aliases "60,000 aliases of a large anchor" "aliases.yaml:3009:41: error: aliases are not supported ('*big'); write the value out"
has aliases "aliases.yaml:5008:189: error: aliases are not supported ('*big'); write the value out" "the last of 60,000 aliases is named"

# 9. out-of-range numbers in a generated runbook with everything else valid
{ head_rb; cat <<'YAML'
approval:
  timeout: 18446744073709551616ms
restore:
  - name: Start
    run: [/bin/true]
    timeout: 25d
    verify: { target: legacy, sql: select true, retry: { attempts: 100000000000000000000, interval: 1s } }
YAML
} >"$T/ranges.yaml"
check ranges "durations and counts out of range" "ranges.yaml:8:12: error: 'approval.timeout' is out of range: 18446744073709551616ms is longer than 24d"
has ranges "ranges.yaml:12:14: error: 'restore.timeout' is out of range: 25d is longer than 24d" "25d is over the limit"
has ranges "ranges.yaml:13:68: error: 'restore.verify.retry.attempts' is out of range: 100000000000000000000 is not between 1 and 10000" "a 21-digit count"

# 10. 3,000 targets and 3,000 references to unknown ones: the list of targets in each message was
# rebuilt by copying (gigabytes, a hang); now built once and cut at 20 names
/usr/bin/python3 - "$T/targets.yaml" <<'PY'
import sys
out = ['version: 1', 'name: x', 'cutover: 2026-11-01T00:00:00Z', 'state_dir: /tmp/x', 'targets:']
out += ['  zzq%05dxyzw: { driver: kubernetes, namespace: p }' % i for i in range(3000)]
out += ['freeze:'] + ['  - scale: { target: nope%d, deployment: d, replicas: 0 }' % i for i in range(3000)]
open(sys.argv[1], 'w').write('\n'.join(out) + '\n')
PY
names=$(for i in $(seq 0 19); do printf "'zzq%05dxyzw', " "$i"; done)
check targets "3,000 unknown target references" \
  "targets.yaml:6006:22: error: unknown target 'nope2999' for 'freeze.scale.target' (targets: ${names%, } and 2980 more)"
# and 5,000 close misses among 6,000 targets: "did you mean" until its budget (2,000,000
# comparisons) is spent, then the message without the hint
/usr/bin/python3 - "$T/near.yaml" <<'PY'
import sys
out = ['version: 1', 'name: x', 'cutover: 2026-11-01T00:00:00Z', 'state_dir: /tmp/x', 'targets:']
out += ['  t%05d: { driver: kubernetes, namespace: p }' % i for i in range(6000)]
out += ['freeze:'] + ['  - scale: { target: u%05dx, deployment: d, replicas: 0 }' % i for i in range(5000)]
open(sys.argv[1], 'w').write('\n'.join(out) + '\n')
PY
check near "5,000 close misses among 6,000 targets" \
  "near.yaml:6007:22: error: unknown target 'u00000x' for 'freeze.scale.target'; did you mean 't00000'?"
assert_eq "333" "$(grep -c 'did you mean' "$T/near.err")" "near: a hint for the first 333 (2,000,000 / 6,000)"
echo "ok - hostile runbooks: exit 5 with a message, bounded memory, no hang"
