# scripts/services.d/bind.sh: a throwaway BIND 9 named with one dynamic zone and a TSIG key.
# Sourced by scripts/services (see the convention at the top of that file).
#
# named runs in the foreground (-g) on 127.0.0.1 at a free port (or $RB_BIND_PORT), with its
# config, zone file and journal in a fresh /tmp/rb-bind.XXXXXX. The zone example.test. allows
# updates signed with the key made here by `tsig-keygen -a hmac-sha256 rollback-key`. No control
# channel, no recursion, no DNSSEC validation, nothing on IPv6.
#
# The zone starts with the "new system" in place: payroll.example.test. CNAME new-app.example.test.,
# plus A records for new-app (127.0.0.2) and legacy-app (127.0.0.3).
#
# Exports: RB_TEST_DNS_SERVER (127.0.0.1:PORT), RB_TEST_DNS_PORT, RB_TEST_DNS_ZONE (example.test.),
#          RB_TEST_TSIG_KEY_FILE (BIND key file), RB_TEST_TSIG_KEY_NAME, RB_TEST_DNS_LOG.

svc_bind_running() {
  [[ -s "$SVC_DIR/root" && -s "$SVC_DIR/port" ]] && svc_alive "$SVC_DIR/named.pid"
}

svc_bind_status() { svc_bind_running; }

svc_bind_export() {
  local root port
  root=$(<"$SVC_DIR/root")
  port=$(<"$SVC_DIR/port")
  svc_export RB_TEST_DNS_SERVER "127.0.0.1:$port"
  svc_export RB_TEST_DNS_PORT "$port"
  svc_export RB_TEST_DNS_ZONE "example.test."
  svc_export RB_TEST_TSIG_KEY_FILE "$root/rollback.key"
  svc_export RB_TEST_TSIG_KEY_NAME "rollback-key"
  svc_export RB_TEST_DNS_LOG "$root/named.log"
}

svc_bind_write_config() {
  local root=$1 port=$2
  cat >"$root/named.conf" <<EOF
include "$root/rollback.key";
options {
    directory "$root";
    listen-on port $port { 127.0.0.1; };
    listen-on-v6 { none; };
    pid-file "$root/named.pid.bind";
    session-keyfile "$root/session.key";
    managed-keys-directory "$root";
    recursion no;
    dnssec-validation no;
    notify no;
    allow-query { 127.0.0.1; };
};
controls { };
zone "example.test" {
    type primary;
    file "$root/db.example.test";
    allow-update { key "rollback-key"; };
};
EOF
}

svc_bind_write_zone() {
  cat >"$1/db.example.test" <<'EOF'
$TTL 300
@           IN SOA  ns.example.test. hostmaster.example.test. ( 1 3600 600 86400 60 )
            IN NS   ns.example.test.
ns          IN A    127.0.0.1
new-app     IN A    127.0.0.2
legacy-app  IN A    127.0.0.3
payroll     IN CNAME new-app.example.test.
EOF
}

svc_bind_start() {
  local named root port attempt i
  named=$(command -v named || echo /usr/sbin/named)
  [[ -x "$named" ]] || svc_die "named not found (install bind9: scripts/install-deps)"
  command -v tsig-keygen >/dev/null 2>&1 || [[ -x /usr/sbin/tsig-keygen ]] ||
    svc_die "tsig-keygen not found (install bind9-utils: scripts/install-deps)"
  if svc_bind_running; then
    svc_bind_export
    svc_log "already running on 127.0.0.1:$(<"$SVC_DIR/port")"
    return 0
  fi
  svc_bind_stop

  root=$(svc_tmpdir rb-bind)
  printf '%s\n' "$root" >"$SVC_DIR/root"
  PATH="$PATH:/usr/sbin" tsig-keygen -a hmac-sha256 rollback-key >"$root/rollback.key"
  chmod 0644 "$root/rollback.key"
  svc_bind_write_zone "$root"

  for attempt in 1 2 3; do
    port=${RB_BIND_PORT:-$(svc_free_port)}
    svc_bind_write_config "$root" "$port"
    PATH="$PATH:/usr/sbin" named-checkconf -z "$root/named.conf" >"$SVC_DIR/checkconf.log" 2>&1 ||
      { cat "$SVC_DIR/checkconf.log" >&2; svc_die "named-checkconf rejected '$root/named.conf'"; }
    # -g: foreground, log to stderr; -n 1: one worker is plenty; no -u (stays the current user).
    # Like svc_spawn, but closing fd 9 (the services lock), which named would otherwise keep.
    setsid "$named" -g -n 1 -c "$root/named.conf" </dev/null >>"$root/named.log" 2>&1 9>&- &
    printf '%s\n' "$!" >"$SVC_DIR/named.pid"
    for ((i = 0; i < 100; i++)); do
      if grep -q 'running$' "$root/named.log" 2>/dev/null; then
        printf '%s\n' "$port" >"$SVC_DIR/port"
        svc_bind_export
        svc_log "named $("$named" -v | awk '{print $2}') on 127.0.0.1:$port, zone example.test., key rollback-key"
        return 0
      fi
      svc_alive "$SVC_DIR/named.pid" || break
      sleep 0.1
    done
    svc_kill "$SVC_DIR/named.pid"
    if [[ -n "${RB_BIND_PORT:-}" ]] || ! grep -q 'address in use' "$root/named.log" 2>/dev/null; then
      break
    fi
    svc_log "port $port was taken meanwhile, trying another"
    : >"$root/named.log"
  done
  tail -n 20 "$root/named.log" >&2 2>/dev/null || true
  svc_die "named failed to start (log: $root/named.log)"
}

svc_bind_stop() {
  local root
  svc_kill "$SVC_DIR/named.pid"
  [[ -s "$SVC_DIR/root" ]] || { rm -f "$SVC_DIR/port"; return 0; }
  root=$(<"$SVC_DIR/root")
  case "$root" in
    /tmp/rb-bind.*) rm -rf "$root" ;;
    *) svc_log "not removing unexpected dir '$root'" ;;
  esac
  rm -f "$SVC_DIR/root" "$SVC_DIR/port"
}
