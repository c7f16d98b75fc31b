#!/usr/bin/env bash
# No secret leaves its variable, over the whole rehearsal (issue 15, "Secrets"). The sandbox's
# runbook takes every credential from an *_env variable holding a distinctive value: the two
# database roles' passwords (loopback connections need SCRAM here), the SMTP password, the chat
# webhook URL (its path is the token), the Kubernetes token (the kubeconfig has none), plus the
# TSIG key file's secret. The run must really use them: prepare READY, execute succeeded, the
# rows synced, DNS switched, the API scaled, the mail logged in, the post at the secret path.
# Then 0 found: in every file under state_dir (runs, prepare assets with break-glass.sh, report),
# the evidence bundle unpacked, stdout and stderr of every command, and the argv and environment
# of every process rollbackctl starts, read from /proc while they run (a python3 poller).
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/integration/rehearsal_lib.sh"
command -v dig >/dev/null || rb_fail "dig is not installed (scripts/install-deps)"

T=$(rb_tmpdir)
rehearsal_start
tag=$$-$RANDOM
export REH_NEW_PGPASSWORD="new-db-s3cret-$tag" REH_LEGACY_PGPASSWORD="legacy-db-s3cret-$tag"
export REH_SMTP_USER=$RB_TEST_SMTP_LOGIN REH_SMTP_PASSWORD=$RB_TEST_SMTP_SECRET
# the sink's password, under the one name the runbook gives it (rollbackctl cannot know another)
unset RB_TEST_SMTP_SECRET
export REH_CHAT_URL="${RB_TEST_WEBHOOK_URL%/*}/chat-s3cret-$tag"
export REH_KUBE_TOKEN="kube-s3cret-$tag"
tsig=$(sed -n 's/^[[:space:]]*secret "\(.*\)";/\1/p' "$RB_TEST_TSIG_KEY_FILE")
[[ -n "$tsig" ]] || rb_fail "no secret in the TSIG key file $RB_TEST_TSIG_KEY_FILE"
secrets=("$REH_NEW_PGPASSWORD" "$REH_LEGACY_PGPASSWORD" "$REH_SMTP_PASSWORD" "$REH_CHAT_URL"
         "chat-s3cret-$tag" "$REH_KUBE_TOKEN" "$tsig")
printf '%s\n' "${secrets[@]}" >"$T/secrets"

# Two roles with passwords, and SCRAM for loopback connections (the socket, which the sandbox's
# own scripts use, stays trusted); the stand-in learns the token; a kubeconfig without one.
rehearsal_psql postgres "create role rb_new login superuser password '$REH_NEW_PGPASSWORD';
  create role rb_legacy login superuser password '$REH_LEGACY_PGPASSWORD'" >/dev/null
hba=$(rehearsal_psql postgres "show hba_file")
{ echo "host all rb_new,rb_legacy 127.0.0.1/32 scram-sha-256"; cat "$hba"; } >"$T/hba" && cat "$T/hba" >"$hba"
rehearsal_psql postgres "select pg_reload_conf()" >/dev/null
PGCONNECT_TIMEOUT=5 "$RB_TEST_PGBIN/psql" -X -w -At -h 127.0.0.1 -p "$RB_TEST_PGPORT" -U rb_new -d new \
  -c "select 1" </dev/null >/dev/null 2>&1 && rb_fail "rb_new logs in over loopback without a password"
rb_ok "loopback logins of rb_new and rb_legacy need their password"
printf '%s,rollbackctl,uid-1,"rollbackctl:operators"\n' "$REH_KUBE_TOKEN" >>"$RB_TEST_KUBE_TOKEN_FILE"
cat >"$T/kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: sandbox
clusters:
- name: sandbox
  cluster: { server: "$RB_TEST_KUBE_URL", certificate-authority: "$RB_TEST_KUBE_CA" }
users:
- name: nobody
  user: {}
contexts:
- name: sandbox
  context: { cluster: sandbox, user: nobody, namespace: payroll }
EOF

# The runbook: the same rehearsal, its credentials from the variables above.
/usr/bin/python3 - "$REH_RUNBOOK" "$T/kubeconfig" "$RB_TEST_PGHOST" <<'PY'
import re, sys
path, kubeconfig, socket = sys.argv[1:4]
s = open(path).read()
def sub(pattern, repl):
    global s
    s, n = re.subn(pattern, repl, s, count=1, flags=re.M)
    assert n == 1, pattern
sub(r'^(    conninfo: "host=127\.0\.0\.1 port=\d+) user=\w+ (dbname=new .*)$',
    r'\1 user=rb_new \2\n    password_env: REH_NEW_PGPASSWORD')
sub(r'^(    conninfo: "host=127\.0\.0\.1 port=\d+) user=\w+ (dbname=legacy .*)$',
    r'\1 user=rb_legacy \2\n    password_env: REH_LEGACY_PGPASSWORD')
sub(r'^(      conninfo: "host=)127\.0\.0\.1( .*dbname=restore_test")', r'\g<1>' + socket + r'\2')
sub(r'^    kubeconfig: .*$', '    kubeconfig: ' + kubeconfig + '\n    token_env: REH_KUBE_TOKEN')
sub(r'^(    from: "Payroll Rollback .*)$', r'\1\n    username_env: REH_SMTP_USER\n    password_env: REH_SMTP_PASSWORD')
sub(r'^(  chat:\n    driver: webhook\n)    url: .*$', r'\1    url_env: REH_CHAT_URL')
open(path, "w").write(s)
PY
for s in "${secrets[@]}"; do
  grep -qF -- "$s" "$REH_RUNBOOK" && rb_fail "the runbook holds a secret (${s:0:10}...)"
done

# The poller: every process of this test below a rollbackctl (not rollbackctl itself, whose
# variables are the secrets' home), argv and environment read while it runs; 'ready' once it scanned, a summary
# in poll.json when 'stop' appears.
/usr/bin/python3 - "$T" "$$" <<'PY' &
import json, os, sys, time
d, top = sys.argv[1], int(sys.argv[2])
secrets = [l.encode() for l in open(os.path.join(d, "secrets")).read().split("\n") if l]
seen, hits = {}, []
def scan():
    procs = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p, "rb") as f:
                st = f.read()
            comm = st[st.index(b"(") + 1:st.rindex(b")")].decode(errors="replace")
            procs[int(p)] = (int(st[st.rindex(b")") + 2:].split()[1]), comm)
        except (OSError, ValueError):
            pass
    for pid, (ppid, comm) in procs.items():
        q, under, ours = ppid, False, False
        while q > 1 and q in procs:
            under = under or procs[q][1] == "rollbackctl"
            if q == top:
                ours = True
                break
            q = procs[q][0]
        # rollbackctl below rollbackctl: LeakSanitizer's tracer, a clone of the same process
        if not (under and ours) or pid in seen or comm == "rollbackctl":
            continue
        try:
            argv = open("/proc/%d/cmdline" % pid, "rb").read()
            env = open("/proc/%d/environ" % pid, "rb").read()
        except OSError:
            continue
        if not argv:
            continue
        seen[pid] = comm
        for s in secrets:
            for where, blob in (("argv", argv), ("environ", env)):
                if s in blob:
                    hits.append("%s %d (%s): %s..." % (where, pid, comm, s[:10].decode()))
scan()
open(os.path.join(d, "ready"), "w").close()
while not os.path.exists(os.path.join(d, "stop")):
    scan()
    time.sleep(0.002)
scan()
json.dump({"seen": sorted(set(seen.values())), "processes": len(seen), "hits": hits},
          open(os.path.join(d, "poll.json"), "w"))
PY
poller=$!
for ((i = 0; i < 300; i++)); do [[ -e "$T/ready" ]] && break; sleep 0.1; done
[[ -e "$T/ready" ]] || rb_fail "the /proc poller did not start"

# Every command, its stdout and stderr kept.
mkdir -p "$T/out"
run() { # NAME EXPECTED_EXIT ARGS...
  local name=$1 want=$2 rc=0
  shift 2
  "$RB_BIN" -f "$REH_RUNBOOK" "$@" >"$T/out/$name.out" 2>"$T/out/$name.err" </dev/null || rc=$?
  assert_eq "$want" "$rc" "rollbackctl $* exits $want ($(tail -c 300 "$T/out/$name.err"))"
}
run validate 0 validate
run prepare 0 -o json prepare
run plan 0 -v plan
run assess 0 assess
rehearsal_execute "$T/out/execute"
assert_eq 0 "$REH_RC" "execute exits 0 ($(tail -c 400 "$T/out/execute.err"))"
run status 0 -o json status
run report 0 report --format md
run report-json 0 report --format json
run bundle 0 report --bundle "$T/evidence.tar.gz"
run verify 0 -v verify
touch "$T/stop"
wait "$poller" || rb_fail "the poller failed"

# The secrets were used.
assert_eq succeeded "$(jq -r .outcome "$T/out/status.out")" "the run succeeded"
assert_contains "$(cat "$T/out/execute.out")" "verification passed"
assert_eq "$(rehearsal_psql new "select count(*) from employee_payments where status = 'completed' and created_at >= '$RB_SANDBOX_CUTOVER'")" \
  "$(rehearsal_psql legacy "select count(*) from payroll_history where created_date >= '${RB_SANDBOX_CUTOVER%Z}'")" \
  "legacy holds every payment since cutover (both database passwords worked)"
assert_eq "legacy-app.example.test." "$(dig +short -p "$RB_TEST_DNS_PORT" @127.0.0.1 payroll.example.test CNAME)" \
  "DNS points at legacy (the TSIG key worked)"
assert_eq 0 "$(kubectl --kubeconfig "$RB_TEST_KUBECONFIG" -n payroll get deployment payroll-api -o jsonpath='{.spec.replicas}')" \
  "payroll-api scaled to 0 (the token worked)"
mails=$(grep -l "Message-ID: <$REH_RUN\." "$RB_TEST_SMTP_DIR"/*.eml)
assert_eq 2 "$(wc -l <<<"$mails" | tr -d ' ')" "two mails of the run in the sink"
for m in $mails; do
  assert_eq "$RB_TEST_SMTP_LOGIN" "$(jq -r .auth_user "${m%.eml}.json")" "$(basename "$m") sent after logging in"
done
assert_contains "$(cat "$RB_TEST_WEBHOOK_DIR"/*.meta)" "/chat-s3cret-$tag" "the chat post went to the secret URL"
assert_eq READY "$(jq -r '.checks[] | select(.name == "channel.chat") | .status' "$T/out/prepare.out")" \
  "prepare's chat check reached the secret URL"

# 0 found, anywhere.
mkdir -p "$T/bundle"
tar -xzf "$T/evidence.tar.gz" -C "$T/bundle"
assets=$(ls -1d "$REH_STATE"/prepare/2* | tail -n 1)
[[ -s "$assets/break-glass.sh" && -s "$assets/snapshot.dump" ]] || rb_fail "no break-glass.sh or snapshot.dump in $assets"
files=$(find "$REH_STATE" "$T/bundle" "$T/out" -type f | wc -l)
for s in "${secrets[@]}"; do
  hits=$(grep -rlaF -- "$s" "$REH_STATE" "$T/bundle" "$T/out" || :)
  assert_eq "" "$hits" "no file holds the secret ${s:0:12}..."
done
rb_ok "searched $files files: state_dir (journal, reports, prepare assets, break-glass.sh), the bundle, every output"
seen=$(jq -r '.seen | join(" ")' "$T/poll.json")
assert_eq "[]" "$(jq -c .hits "$T/poll.json")" "no secret in the argv or environment of a child ($(jq .processes "$T/poll.json") seen: $seen)"
for c in pg_dump pg_restore tar; do
  [[ " $seen " == *" $c "* ]] || rb_fail "the poller never saw $c run (seen: $seen)"
done
rb_ok "the poller read pg_dump, pg_restore and tar while they ran"
