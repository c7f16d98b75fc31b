# scripts/services.d/kube.sh - the Kubernetes API stand-in (tests/fakes/kube_apiserver.py).
#
# Makes a CA, a server certificate, a client certificate and a bearer token with the openssl CLI,
# starts the stand-in on a free loopback port seeded with a payroll namespace
# (tests/fakes/payroll-cluster.json: payroll-api Deployment, CronJobs, Jobs, ConfigMap, Service,
# a Secret that must never be read) and writes a kubeconfig. Exports:
#   RB_TEST_KUBECONFIG    kubeconfig; contexts fake (token, current), fake-cert (client cert
#                         files), fake-certdata (client cert as data); namespace payroll
#   RB_TEST_KUBE_URL      https://127.0.0.1:PORT
#   RB_TEST_KUBE_CA       CA certificate (PEM) of the server and client certificates
#   RB_TEST_KUBE_TOKEN    bearer token of user "rollbackctl"
#   RB_TEST_KUBE_TOKEN_FILE  the server's token CSV (token,user,uid,"groups"), re-read per request
#   RB_TEST_KUBE_CLIENT_CERT, RB_TEST_KUBE_CLIENT_KEY   client certificate (CN rollbackctl-admin)
#   RB_TEST_KUBE_DIR      the instance's folder (for tests/fakes/kube_fake.sh kube_fake_ctl)
# The server is started with fd 9 closed: scripts/services holds its flock there.
# Tests that inject faults or change RBAC start a private instance with kube_fake_start instead.

svc_kube_start() {
    # shellcheck source=../../tests/fakes/kube_fake.sh
    source "$RB_REPO/tests/fakes/kube_fake.sh"
    local dir="$SVC_DIR/fake"
    if ! svc_alive "$dir/pid"; then
        rm -rf "$dir"
        kube_fake_start "$dir" "$RB_REPO/tests/fakes/payroll-cluster.json" ||
            svc_die "the Kubernetes stand-in did not start (log: $dir/fake.log)"
        svc_log "listening on $KUBE_FAKE_URL"
    fi
    svc_export RB_TEST_KUBECONFIG "$dir/kubeconfig"
    svc_export RB_TEST_KUBE_URL "https://127.0.0.1:$(cat "$dir/port")"
    svc_export RB_TEST_KUBE_CA "$dir/ca.crt"
    svc_export RB_TEST_KUBE_TOKEN "$(head -n1 "$dir/tokens.csv" | cut -d, -f1)"
    svc_export RB_TEST_KUBE_TOKEN_FILE "$dir/tokens.csv"
    svc_export RB_TEST_KUBE_CLIENT_CERT "$dir/client.crt"
    svc_export RB_TEST_KUBE_CLIENT_KEY "$dir/client.key"
    svc_export RB_TEST_KUBE_DIR "$dir"
}

svc_kube_status() {
    svc_alive "$SVC_DIR/fake/pid"
}

svc_kube_stop() {
    svc_kill "$SVC_DIR/fake/pid"
    rm -rf "$SVC_DIR/fake"
}
