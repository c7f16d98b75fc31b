#!/usr/bin/env bash
# test_hostile_servers: what a misbehaving or hostile server sends is read defensively (issue 15,
# "Hostile input"): a Kubernetes API server that answers a list with the same continue token
# forever (or a new one forever) is refused with a clear error instead of looping until the
# deadline; a status message full of terminal escapes and CR/LF reaches the operator, the journal
# and `status` as one line of printable text. (A --signals file with text after its object:
# test_assess and unit/test_assess.)
set -euo pipefail
source "$RB_SOURCE_DIR/tests/integration/lib.sh"
source "$RB_SOURCE_DIR/tests/fakes/kube_fake.sh"

T=$(rb_tmpdir)
unset KUBECONFIG KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
export HOME=$T/home
mkdir -p "$HOME"

# --- a list that never ends: a tiny plain-HTTP server, counting the GETs it answered -----------
cat >"$T/endless.py" <<'PY'
import http.server, json, sys, threading
mode, port_file, count_file = sys.argv[1], sys.argv[2], sys.argv[3]
n = 0
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def answer(self, doc):
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):  # pre-flight's SelfSubjectAccessReview: everything is allowed
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.answer({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                     "status": {"allowed": True}})
    def do_GET(self):
        global n
        if "/cronjobs" not in self.path:
            return self.answer({"kind": "Namespace", "apiVersion": "v1",
                                "metadata": {"name": "payroll"}})
        n += 1
        open(count_file, "w").write(str(n))
        token = "same" if mode == "same" else "page-%d" % n
        self.answer({"kind": "CronJobList", "apiVersion": "batch/v1",
                     "metadata": {"continue": token}, "items": []})
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(port_file + ".tmp", "w").write(str(s.server_address[1]))
import os; os.rename(port_file + ".tmp", port_file)
s.serve_forever()
PY
endless_start() { # MODE -> sets $EPORT; the server is stopped at exit
  rm -f "$T/port" "$T/count"
  /usr/bin/python3 "$T/endless.py" "$1" "$T/port" "$T/count" &
  local pid=$!
  rb_on_exit kill "$pid"
  for _ in $(seq 200); do [[ -s "$T/port" ]] && break; kill -0 "$pid" || rb_fail "server died"; sleep 0.05; done
  EPORT=$(cat "$T/port")
}
runbook() { # NAME SERVER
  cat >"$T/kc-$1" <<YAML
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "$2"}}]
users: [{name: u, user: {token: not-a-secret}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: payroll}}]
current-context: x
YAML
  cat >"$T/$1.yaml" <<YAML
$(rb_runbook_header "hostile-$1" "$T/state-$1")
  cluster:
    driver: kubernetes
    namespace: payroll
    kubeconfig: $T/kc-$1
freeze:
  - suspend_cronjobs: { target: cluster, selector: app=payroll }
YAML
  printf '%s\n' "$T/$1.yaml"
}

endless_start same
rb=$(runbook same "http://127.0.0.1:$EPORT")
assert_exit 1 timeout 60 "$RB_BIN" -f "$rb" execute --reason "endless list" --yes
assert_contains "$RB_ERR" "the server answered the same continue token twice: the list never ends" "a repeated token named"
assert_eq 2 "$(cat "$T/count")" "refused at the second page, not retried"

endless_start new
rb=$(runbook new "http://127.0.0.1:$EPORT")
assert_exit 1 timeout 120 "$RB_BIN" -f "$rb" execute --reason "endless list" --yes
assert_contains "$RB_ERR" "the list did not end after 2000 pages" "an endless list cut at the page cap"
assert_eq 2000 "$(cat "$T/count")" "2000 pages read, then refused"

# --- a status message with terminal escapes, CR and LF -------------------------------------------
F=$T/kube
rb_kube_fake "$F"
cat >"$T/esc.yaml" <<YAML
$(rb_runbook_header hostile-esc "$T/state-esc")
  cluster:
    driver: kubernetes
    namespace: payroll
    kubeconfig: $KUBE_FAKE_KUBECONFIG
freeze:
  - scale: { target: cluster, deployment: payroll-api, replicas: 0 }
YAML
kube_fake_fault "$F" '{"count":1,"status":403,"method":"PATCH","path":"/scale","message":"denied\u001b[2J\u001b]0;pwned\u0007\rOK\nok - forged"}'
assert_exit 1 "$RB_BIN" -f "$T/esc.yaml" execute --reason "escapes" --yes
assert_not_contains "$RB_ERR" $'\033' "no escape reached the terminal"
assert_not_contains "$RB_ERR" $'\r' "no carriage return reached the terminal"
assert_contains "$RB_ERR" "denied?[2J?]0;pwned? OK ok - forged" "the message shown on one line, escapes as '?'"
grep -q $'\033' "$T"/state-esc/runs/*/journal.jsonl && rb_fail "an escape reached the journal" || rb_ok "the journal holds no escape"
assert_exit 0 "$RB_BIN" -f "$T/esc.yaml" status
assert_not_contains "$RB_OUT$RB_ERR" $'\033' "status shows no escape"
[[ "$(kube_fake_state "$F" '.objects["apps/v1/deployments"].payroll["payroll-api"].spec.replicas')" != 0 ]] &&
  rb_ok "nothing scaled" || rb_fail "the deployment was scaled"
