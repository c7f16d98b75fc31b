# scripts/services.d/webhook.sh: an HTTP receiver for chat webhooks (tests/fakes/webhook_sink.py)
# that keeps every POST body as a file. Sourced by scripts/services (see the convention there).
#
# It listens on 127.0.0.1 at a free port (or $RB_WEBHOOK_PORT); bodies land in $SVC_DIR/posts as
# NNNN.json, and while $SVC_DIR/posts/answer-500 exists it answers 500 (a failing receiver).
#
# Exports: RB_TEST_WEBHOOK_URL (http://127.0.0.1:PORT/hooks/rollback), RB_TEST_WEBHOOK_PORT,
#          RB_TEST_WEBHOOK_DIR.

svc_webhook_running() {
  [[ -s "$SVC_DIR/port" ]] && svc_alive "$SVC_DIR/sink.pid"
}

svc_webhook_status() { svc_webhook_running; }

svc_webhook_export() {
  svc_export RB_TEST_WEBHOOK_URL "http://127.0.0.1:$(<"$SVC_DIR/port")/hooks/rollback"
  svc_export RB_TEST_WEBHOOK_PORT "$(<"$SVC_DIR/port")"
  svc_export RB_TEST_WEBHOOK_DIR "$SVC_DIR/posts"
}

svc_webhook_start() {
  local i
  if svc_webhook_running; then
    svc_webhook_export
    svc_log "already running on 127.0.0.1:$(<"$SVC_DIR/port")"
    return 0
  fi
  svc_webhook_stop
  mkdir -p "$SVC_DIR/posts"
  setsid /usr/bin/python3 "$RB_REPO/tests/fakes/webhook_sink.py" --port "${RB_WEBHOOK_PORT:-0}" \
    --port-file "$SVC_DIR/port" --dir "$SVC_DIR/posts" \
    </dev/null >>"$SVC_DIR/sink.log" 2>&1 9>&- &
  printf '%s\n' "$!" >"$SVC_DIR/sink.pid"
  for ((i = 0; i < 100; i++)); do
    if [[ -s "$SVC_DIR/port" ]] && svc_wait_tcp "$(<"$SVC_DIR/port")" 5; then
      svc_webhook_export
      svc_log "webhook receiver on 127.0.0.1:$(<"$SVC_DIR/port"), posts in $SVC_DIR/posts"
      return 0
    fi
    svc_alive "$SVC_DIR/sink.pid" || break
    sleep 0.1
  done
  tail -n 20 "$SVC_DIR/sink.log" >&2 2>/dev/null || true
  svc_die "the webhook receiver failed to start (log: $SVC_DIR/sink.log)"
}

svc_webhook_stop() {
  svc_kill "$SVC_DIR/sink.pid"
  rm -f "$SVC_DIR/port"
  rm -rf "$SVC_DIR/posts"
}
