# scripts/services.d/pg.sh: a throwaway PostgreSQL 15 cluster for tests and the sandbox.
# Sourced by scripts/services (see the convention at the top of that file).
#
# The cluster lives in a fresh /tmp/rb-pg.XXXXXX (recorded in $SVC_DIR/root), not under the repo:
# as root, initdb and postgres must run as the 'postgres' user, which may not be able to traverse
# the repo's parents (/root is 0700). It listens on 127.0.0.1 only, on a free port (or
# $RB_PG_PORT when set), and on a unix socket in that same dir. Local and loopback connections are
# trusted; fsync is off: the data is thrown away with the cluster.
#
# Exports: RB_TEST_PGHOST (socket dir), RB_TEST_PGPORT, RB_TEST_PGUSER (superuser),
#          RB_TEST_PGBIN (server binaries: pg_dump, pg_restore, psql of the same version),
#          RB_TEST_PGDATA, RB_TEST_PGLOG.

svc_pg_bindir() {
  local d=${RB_PG_BINDIR:-/usr/lib/postgresql/15/bin}
  [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] || svc_die "PostgreSQL 15 server not found in '$d' (run scripts/install-deps)"
  printf '%s\n' "$d"
}

# Run a server command as the cluster's owner: 'postgres' when we are root, ourselves otherwise.
svc_pg_as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

svc_pg_running() {
  local root bindir
  [[ -s "$SVC_DIR/root" && -s "$SVC_DIR/port" ]] || return 1
  root=$(<"$SVC_DIR/root")
  [[ -d "$root/data" ]] || return 1
  bindir=$(svc_pg_bindir)
  svc_pg_as_owner "$bindir/pg_ctl" status -D "$root/data" >/dev/null 2>&1
}

svc_pg_status() { svc_pg_running; }

svc_pg_export() {
  local root port bindir
  root=$(<"$SVC_DIR/root")
  port=$(<"$SVC_DIR/port")
  bindir=$(svc_pg_bindir)
  svc_export RB_TEST_PGHOST "$root"
  svc_export RB_TEST_PGPORT "$port"
  svc_export RB_TEST_PGUSER postgres
  svc_export RB_TEST_PGBIN "$bindir"
  svc_export RB_TEST_PGDATA "$root/data"
  svc_export RB_TEST_PGLOG "$root/log"
}

svc_pg_start() {
  local bindir root port attempt
  bindir=$(svc_pg_bindir)
  if svc_pg_running; then
    svc_pg_export
    svc_log "already running on 127.0.0.1:$(<"$SVC_DIR/port")"
    return 0
  fi
  svc_pg_stop # leftovers of a cluster that is gone (reboot, killed): start clean

  if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    svc_die "user 'postgres' does not exist (install postgresql-15: scripts/install-deps)"
  fi
  root=$(svc_tmpdir rb-pg)
  printf '%s\n' "$root" >"$SVC_DIR/root"
  if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$root"; else chmod 0700 "$root"; fi

  svc_pg_as_owner "$bindir/initdb" -D "$root/data" -U postgres -A trust -E UTF8 --locale=C \
    --no-sync --no-instructions >"$SVC_DIR/initdb.log" 2>&1 ||
    { cat "$SVC_DIR/initdb.log" >&2; svc_die "initdb failed in '$root/data'"; }

  for attempt in 1 2 3; do
    port=${RB_PG_PORT:-$(svc_free_port)}
    if svc_port_busy "$port"; then svc_die "port $port on 127.0.0.1 is already in use"; fi
    # Settings as a conf.d-style include, so a retry with another port just rewrites the file.
    svc_pg_as_owner tee "$root/data/rollbackctl-test.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$root'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
log_line_prefix = '%m [%p] %d '
EOF
    if ! grep -q "^include_if_exists = 'rollbackctl-test.conf'" "$root/data/postgresql.conf"; then
      echo "include_if_exists = 'rollbackctl-test.conf'" | svc_pg_as_owner tee -a "$root/data/postgresql.conf" >/dev/null
    fi
    if svc_pg_as_owner "$bindir/pg_ctl" start -D "$root/data" -l "$root/log" -w -t 60 >/dev/null 2>&1; then
      printf '%s\n' "$port" >"$SVC_DIR/port"
      svc_pg_export
      svc_log "PostgreSQL $("$bindir/postgres" -V | awk '{print $3}') on 127.0.0.1:$port, socket in $root"
      return 0
    fi
    # Lost a race for the port? Try another one, unless the port was fixed.
    if [[ -n "${RB_PG_PORT:-}" ]] || ! grep -q 'could not bind\|Address already in use' "$root/log" 2>/dev/null; then
      break
    fi
    svc_log "port $port was taken meanwhile, trying another"
  done
  tail -n 20 "$root/log" >&2 2>/dev/null || true
  svc_die "PostgreSQL failed to start (log: $root/log)"
}

svc_pg_stop() {
  local root bindir pid
  [[ -s "$SVC_DIR/root" ]] || { rm -f "$SVC_DIR/port"; return 0; }
  root=$(<"$SVC_DIR/root")
  bindir=$(svc_pg_bindir)
  if [[ -f "$root/data/postmaster.pid" ]]; then
    if ! svc_pg_as_owner "$bindir/pg_ctl" stop -D "$root/data" -m fast -w -t 30 >/dev/null 2>&1; then
      # Still there after a fast shutdown: the postmaster is stuck, kill it hard (data is throwaway).
      pid=$(head -n 1 "$root/data/postmaster.pid" 2>/dev/null || true)
      if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        svc_pg_as_owner "$bindir/pg_ctl" stop -D "$root/data" -m immediate -w -t 10 >/dev/null 2>&1 ||
          kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
  fi
  # Only ever remove a dir this component made (guards against a corrupted root file).
  case "$root" in
    /tmp/rb-pg.*) rm -rf "$root" ;;
    *) svc_log "not removing unexpected cluster dir '$root'" ;;
  esac
  rm -f "$SVC_DIR/root" "$SVC_DIR/port"
}
