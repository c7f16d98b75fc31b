# kube_fake.sh - start and stop one instance of the Kubernetes API stand-in (bash, sourced).
#
# Used by scripts/services.d/kube.sh (the shared instance) and by tests that need a private
# instance they may break (faults, RBAC, token rotation): each instance gets its own CA, server
# certificate, client certificate, bearer token and kubeconfig, all made here with the openssl CLI,
# in the folder it is given. Loopback only, a free port chosen by the server itself.
#
#   kube_fake_start DIR [STATE_JSON]   start; sets KUBE_FAKE_* variables (below)
#   kube_fake_stop DIR                 stop the instance started in DIR
#   kube_fake_ctl DIR METHOD PATH [JSON]   call the control endpoint (/_control/...)
#   kube_fake_api DIR METHOD PATH [JSON [CONTENT_TYPE]]   call the API with the admin token
#
# After kube_fake_start: KUBE_FAKE_URL, KUBE_FAKE_CA, KUBE_FAKE_TOKEN, KUBE_FAKE_TOKEN_FILE (the
# server's token CSV), KUBE_FAKE_KUBECONFIG (contexts: "fake" = token, "fake-cert" = client
# certificate as files, "fake-certdata" = client certificate as data; namespace "payroll"),
# KUBE_FAKE_CLIENT_CERT, KUBE_FAKE_CLIENT_KEY, KUBE_FAKE_PID. KUBE_FAKE_SERVER_SAN, when set before
# kube_fake_start, replaces the server certificate's subjectAltName (IP:127.0.0.1,DNS:localhost).

KUBE_FAKE_PY=${KUBE_FAKE_PY:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kube_apiserver.py}

_kube_fake_openssl() {
    openssl "$@" >/dev/null 2>&1 || { echo "kube_fake: openssl $1 failed" >&2; return 1; }
}

# kube_fake_mkcert DIR NAME CN [O] EKU: a P-256 key and a certificate signed by DIR/ca.
kube_fake_mkcert() {
    local dir=$1 name=$2 cn=$3 org=$4 eku=$5 subj
    subj="/CN=$cn"
    [ -n "$org" ] && subj="/O=$org$subj"
    _kube_fake_openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "$subj" || return 1
    {
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=$eku"
        [ "$eku" = serverAuth ] && echo "subjectAltName=${KUBE_FAKE_SERVER_SAN:-IP:127.0.0.1,DNS:localhost}"
    } >"$dir/$name.ext"
    _kube_fake_openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -out "$dir/$name.crt" -extfile "$dir/$name.ext" || return 1
    chmod 600 "$dir/$name.key"
}

# kube_fake_mkca DIR [PREFIX]: a self-signed CA (PREFIX.crt/.key, default "ca").
kube_fake_mkca() {
    local dir=$1 p=${2:-ca}
    _kube_fake_openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$dir/$p.key" -out "$dir/$p.crt" -days 2 -subj "/CN=rollbackctl test CA $p" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}

kube_fake_start() {
    local dir=$1 state=${2:-} i
    mkdir -p "$dir" && chmod 700 "$dir" || return 1
    kube_fake_mkca "$dir" || return 1
    kube_fake_mkcert "$dir" server kube-apiserver "" serverAuth || return 1
    kube_fake_mkcert "$dir" client rollbackctl-admin "rollbackctl:operators" clientAuth || return 1
    KUBE_FAKE_TOKEN=$(openssl rand -hex 24)
    printf '%s,rollbackctl,uid-1,"rollbackctl:operators"\n' "$KUBE_FAKE_TOKEN" >"$dir/tokens.csv"
    rm -f "$dir/port"
    local extra=()
    [ -n "$state" ] && extra=(--state "$state")
    setsid /usr/bin/python3 "$KUBE_FAKE_PY" --host 127.0.0.1 --port 0 --port-file "$dir/port" \
        --tls-cert "$dir/server.crt" --tls-key "$dir/server.key" --client-ca "$dir/ca.crt" \
        --token-auth-file "$dir/tokens.csv" "${extra[@]}" </dev/null >"$dir/fake.log" 2>&1 9>&- &
    KUBE_FAKE_PID=$!
    echo "$KUBE_FAKE_PID" >"$dir/pid"
    for i in $(seq 1 100); do
        [ -s "$dir/port" ] && break
        if ! kill -0 "$KUBE_FAKE_PID" 2>/dev/null; then
            echo "kube_fake: the stand-in did not start:" >&2
            cat "$dir/fake.log" >&2
            return 1
        fi
        sleep 0.1
    done
    [ -s "$dir/port" ] || { echo "kube_fake: no port after 10s" >&2; return 1; }
    KUBE_FAKE_URL="https://127.0.0.1:$(cat "$dir/port")"
    KUBE_FAKE_CA=$dir/ca.crt
    KUBE_FAKE_TOKEN_FILE=$dir/tokens.csv
    KUBE_FAKE_CLIENT_CERT=$dir/client.crt
    KUBE_FAKE_CLIENT_KEY=$dir/client.key
    KUBE_FAKE_KUBECONFIG=$dir/kubeconfig
    b64() { base64 -w0 <"$1"; }
    cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: fake
clusters:
- name: fake
  cluster:
    server: $KUBE_FAKE_URL
    certificate-authority-data: $(b64 "$dir/ca.crt")
- name: fake-cafile
  cluster:
    server: $KUBE_FAKE_URL
    certificate-authority: $dir/ca.crt
users:
- name: token-user
  user:
    token: $KUBE_FAKE_TOKEN
- name: cert-user
  user:
    client-certificate: $dir/client.crt
    client-key: $dir/client.key
- name: certdata-user
  user:
    client-certificate-data: $(b64 "$dir/client.crt")
    client-key-data: $(b64 "$dir/client.key")
contexts:
- name: fake
  context:
    cluster: fake
    user: token-user
    namespace: payroll
- name: fake-cert
  context:
    cluster: fake-cafile
    user: cert-user
    namespace: payroll
- name: fake-certdata
  context:
    cluster: fake
    user: certdata-user
    namespace: payroll
EOF
    unset -f b64
    chmod 600 "$dir/kubeconfig"
    export KUBE_FAKE_URL KUBE_FAKE_CA KUBE_FAKE_TOKEN KUBE_FAKE_TOKEN_FILE KUBE_FAKE_KUBECONFIG \
        KUBE_FAKE_CLIENT_CERT KUBE_FAKE_CLIENT_KEY KUBE_FAKE_PID
}

kube_fake_stop() {
    local dir=$1 pid i
    [ -f "$dir/pid" ] || return 0
    pid=$(cat "$dir/pid")
    if kill "$pid" 2>/dev/null; then
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null
    fi
    rm -f "$dir/pid" "$dir/port"
}

kube_fake_url_of() { echo "https://127.0.0.1:$(cat "$1/port")"; }

kube_fake_ctl() {
    local dir=$1 method=$2 path=$3 body=${4:-} data=()
    [ -n "$body" ] && data=(-H "Content-Type: application/json" --data-binary "$body")
    curl -sS --fail-with-body --max-time 10 --cacert "$dir/ca.crt" -X "$method" "${data[@]}" \
        "$(kube_fake_url_of "$dir")$path"
}

kube_fake_api() {
    local dir=$1 method=$2 path=$3 body=${4:-} ctype=${5:-application/json} token data=()
    token=$(head -n1 "$dir/tokens.csv" | cut -d, -f1)
    [ -n "$body" ] && data=(-H "Content-Type: $ctype" --data-binary "$body")
    curl -sS --max-time 10 --cacert "$dir/ca.crt" -X "$method" \
        -H "Authorization: Bearer $token" "${data[@]}" "$(kube_fake_url_of "$dir")$path"
}

# Assertions helpers: jq filters over the server-side state and the request log.
#   kube_fake_state DIR FILTER   e.g. '.objects["apps/v1/deployments"].payroll["payroll-api"].spec.replicas'
#   kube_fake_log DIR FILTER     FILTER applied to the array of log entries
#   kube_fake_fault DIR JSON     queue one fault ({"count":2,"status":500,"method":"PATCH"})
kube_fake_state() { kube_fake_ctl "$1" GET /_control/state | jq -r "$2"; }
kube_fake_log() { kube_fake_ctl "$1" GET /_control/log | jq -r ".items | $2"; }
kube_fake_fault() { kube_fake_ctl "$1" POST /_control/faults "{\"faults\":[$2]}" >/dev/null; }
