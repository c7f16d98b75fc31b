# scripts/services.d/pdns.sh: a throwaway PowerDNS Authoritative server with its HTTP API.
# Sourced by scripts/services (see the convention at the top of that file).
#
# pdns_server runs in the foreground (--daemon=no --guardian=no) with the gsqlite3 backend, DNS on
# 127.0.0.1 at a free port and the API/webserver on 127.0.0.1 at another, everything in a fresh
# /tmp/rb-pdns.XXXXXX. The API key is made here (random). Once it answers, the zone example.org. is
# created through the API with payroll.example.org. CNAME new-app.example.org. (the "new system").
#
# Exports: RB_TEST_PDNS_URL (http://127.0.0.1:PORT), RB_TEST_PDNS_API_KEY, RB_TEST_PDNS_ZONE
#          (example.org.), RB_TEST_PDNS_DNS_PORT, RB_TEST_PDNS_LOG.

svc_pdns_running() {
  [[ -s "$SVC_DIR/root" && -s "$SVC_DIR/api_port" ]] && svc_alive "$SVC_DIR/pdns.pid"
}

svc_pdns_status() { svc_pdns_running; }

svc_pdns_export() {
  local root
  root=$(<"$SVC_DIR/root")
  svc_export RB_TEST_PDNS_URL "http://127.0.0.1:$(<"$SVC_DIR/api_port")"
  svc_export RB_TEST_PDNS_API_KEY "$(<"$root/api.key")"
  svc_export RB_TEST_PDNS_ZONE "example.org."
  svc_export RB_TEST_PDNS_DNS_PORT "$(<"$SVC_DIR/dns_port")"
  svc_export RB_TEST_PDNS_LOG "$root/pdns.log"
}

svc_pdns_api() { # METHOD PATH [BODY] -> HTTP status on stdout, body in $SVC_DIR/api.out
  local root key
  root=$(<"$SVC_DIR/root")
  key=$(<"$root/api.key")
  curl -sS --max-time 5 -o "$SVC_DIR/api.out" -w '%{http_code}' -X "$1" \
    -H "X-API-Key: $key" -H 'Content-Type: application/json' ${3:+--data "$3"} \
    "http://127.0.0.1:$(<"$SVC_DIR/api_port")/api/v1/servers/localhost$2"
}

svc_pdns_start() {
  local pdns schema root dns_port api_port i code
  pdns=$(command -v pdns_server || echo /usr/sbin/pdns_server)
  [[ -x "$pdns" ]] || svc_die "pdns_server not found (install pdns-server pdns-backend-sqlite3: scripts/install-deps)"
  schema=/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
  [[ -f "$schema" ]] || svc_die "'$schema' not found (install pdns-backend-sqlite3: scripts/install-deps)"
  command -v sqlite3 >/dev/null || svc_die "sqlite3 not found (scripts/install-deps)"
  if svc_pdns_running; then
    svc_pdns_export
    svc_log "already running, API on 127.0.0.1:$(<"$SVC_DIR/api_port")"
    return 0
  fi
  svc_pdns_stop

  root=$(svc_tmpdir rb-pdns)
  printf '%s\n' "$root" >"$SVC_DIR/root"
  sqlite3 "$root/pdns.sqlite3" <"$schema"
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$root/api.key"
  dns_port=$(svc_free_port)
  api_port=$(svc_free_port)
  [[ "$api_port" != "$dns_port" ]] || api_port=$(svc_free_port)
  printf '%s\n' "$dns_port" >"$SVC_DIR/dns_port"
  # The key goes in a config file (0600), not on the command line where ps would show it.
  cat >"$root/pdns.conf" <<EOF
launch=gsqlite3
gsqlite3-database=$root/pdns.sqlite3
local-address=127.0.0.1
local-port=$dns_port
socket-dir=$root
api=yes
api-key=$(<"$root/api.key")
webserver=yes
webserver-address=127.0.0.1
webserver-port=$api_port
webserver-allow-from=127.0.0.1
disable-syslog=yes
loglevel=4
EOF
  chmod 0600 "$root/pdns.conf"
  # Closing fd 9 (the services lock): the server must not keep it.
  setsid "$pdns" --config-dir="$root" --daemon=no --guardian=no </dev/null >>"$root/pdns.log" 2>&1 9>&- &
  printf '%s\n' "$!" >"$SVC_DIR/pdns.pid"
  for ((i = 0; i < 100; i++)); do
    if svc_wait_tcp "$api_port" 1 2>/dev/null; then break; fi
    svc_alive "$SVC_DIR/pdns.pid" || { tail -n 20 "$root/pdns.log" >&2; svc_die "pdns_server exited (log: $root/pdns.log)"; }
  done
  printf '%s\n' "$api_port" >"$SVC_DIR/api_port"
  code=$(svc_pdns_api POST /zones '{"name":"example.org.","kind":"Native","nameservers":["ns1.example.org."],"rrsets":[{"name":"payroll.example.org.","type":"CNAME","ttl":300,"records":[{"content":"new-app.example.org.","disabled":false}]},{"name":"new-app.example.org.","type":"A","ttl":300,"records":[{"content":"127.0.0.2","disabled":false}]}]}')
  [[ "$code" == 201 ]] || { cat "$SVC_DIR/api.out" >&2; svc_die "creating zone example.org. through the API answered $code"; }
  svc_pdns_export
  svc_log "pdns_server $("$pdns" --version 2>&1 | grep -o '[0-9]\+\.[0-9]\+\.[0-9]\+' | head -n 1) DNS 127.0.0.1:$dns_port, API http://127.0.0.1:$api_port, zone example.org."
}

svc_pdns_stop() {
  local root
  svc_kill "$SVC_DIR/pdns.pid"
  [[ -s "$SVC_DIR/root" ]] || { rm -f "$SVC_DIR/api_port" "$SVC_DIR/dns_port"; return 0; }
  root=$(<"$SVC_DIR/root")
  case "$root" in
    /tmp/rb-pdns.*) rm -rf "$root" ;;
    *) svc_log "not removing unexpected dir '$root'" ;;
  esac
  rm -f "$SVC_DIR/root" "$SVC_DIR/api_port" "$SVC_DIR/dns_port" "$SVC_DIR/api.out"
}
