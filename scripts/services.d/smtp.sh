# scripts/services.d/smtp.sh: an SMTP sink (tests/fakes/smtp_sink.py, python3-aiosmtpd) that keeps
# every message it accepts as a file. Sourced by scripts/services (see the convention there).
#
# It listens on 127.0.0.1 at a free port (or $RB_SMTP_PORT), offers AUTH PLAIN/LOGIN over plain TCP
# (loopback only) for the user and password made here, and accepts mail without a login too (so a
# test can check both). Messages land in $SVC_DIR/messages as NNNN.eml (the bytes received) and
# NNNN.json (envelope and the user that logged in). Run with Debian's /usr/bin/python3, where
# python3-aiosmtpd is installed, not whatever python3 is first on PATH.
#
# Exports: RB_TEST_SMTP_URL (smtp://127.0.0.1:PORT), RB_TEST_SMTP_PORT, RB_TEST_SMTP_DIR,
#          RB_TEST_SMTP_LOGIN, RB_TEST_SMTP_SECRET (not *SMTP_USER/*SMTP_PASSWORD: test_child_secrets
#          checks that no variable named like a runbook secret reaches a child).

svc_smtp_running() {
  [[ -s "$SVC_DIR/port" ]] && svc_alive "$SVC_DIR/sink.pid"
}

svc_smtp_status() { svc_smtp_running; }

svc_smtp_export() {
  svc_export RB_TEST_SMTP_URL "smtp://127.0.0.1:$(<"$SVC_DIR/port")"
  svc_export RB_TEST_SMTP_PORT "$(<"$SVC_DIR/port")"
  svc_export RB_TEST_SMTP_DIR "$SVC_DIR/messages"
  svc_export RB_TEST_SMTP_LOGIN "rollback-mailer"
  svc_export RB_TEST_SMTP_SECRET "$(<"$SVC_DIR/password")"
}

svc_smtp_start() {
  local i
  /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null ||
    svc_die "python3-aiosmtpd not found for /usr/bin/python3 (scripts/install-deps)"
  if svc_smtp_running; then
    svc_smtp_export
    svc_log "already running on 127.0.0.1:$(<"$SVC_DIR/port")"
    return 0
  fi
  svc_smtp_stop
  mkdir -p "$SVC_DIR/messages"
  (umask 077; head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SVC_DIR/password")
  RB_SINK_SMTP_PASSWORD=$(<"$SVC_DIR/password") setsid /usr/bin/python3 \
    "$RB_REPO/tests/fakes/smtp_sink.py" --port "${RB_SMTP_PORT:-0}" \
    --port-file "$SVC_DIR/port" --dir "$SVC_DIR/messages" --user rollback-mailer \
    </dev/null >>"$SVC_DIR/sink.log" 2>&1 9>&- &
  printf '%s\n' "$!" >"$SVC_DIR/sink.pid"
  for ((i = 0; i < 100; i++)); do
    if [[ -s "$SVC_DIR/port" ]] && svc_wait_tcp "$(<"$SVC_DIR/port")" 5; then
      svc_smtp_export
      svc_log "SMTP sink on 127.0.0.1:$(<"$SVC_DIR/port"), messages in $SVC_DIR/messages"
      return 0
    fi
    svc_alive "$SVC_DIR/sink.pid" || break
    sleep 0.1
  done
  tail -n 20 "$SVC_DIR/sink.log" >&2 2>/dev/null || true
  svc_die "the SMTP sink failed to start (log: $SVC_DIR/sink.log)"
}

svc_smtp_stop() {
  svc_kill "$SVC_DIR/sink.pid"
  rm -f "$SVC_DIR/port" "$SVC_DIR/password"
  rm -rf "$SVC_DIR/messages"
}
