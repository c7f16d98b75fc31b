# scripts/services.d/prometheus.sh: a throwaway Prometheus (Debian's `prometheus` package) that
# scrapes a small static exporter, for the assess phase's `query:` signals.
# Sourced by scripts/services (see the convention at the top of that file).
#
# The exporter is `python3 -m http.server` bound to 127.0.0.1 serving a folder that holds one file,
# `metrics` (Prometheus text format): integration_up{name="bank"} 0, {name="gl"} 0, {name="tax"} 1.
# Prometheus scrapes it every second, with its TSDB in SVC_DIR, and listens on 127.0.0.1 at a free
# port. start waits until `count(integration_up == 0)` returns 2, so tests can query at once.
#
# Exports: RB_TEST_PROM_URL (http://127.0.0.1:PORT), RB_TEST_PROM_PORT, RB_TEST_PROM_EXPORTER_DIR
#          (the folder with `metrics`; a test may rewrite it), RB_TEST_PROM_LOG.

svc_prometheus_running() {
  [[ -s "$SVC_DIR/port" ]] && svc_alive "$SVC_DIR/prometheus.pid" && svc_alive "$SVC_DIR/exporter.pid"
}

svc_prometheus_status() { svc_prometheus_running; }

svc_prometheus_export() {
  svc_export RB_TEST_PROM_URL "http://127.0.0.1:$(<"$SVC_DIR/port")"
  svc_export RB_TEST_PROM_PORT "$(<"$SVC_DIR/port")"
  svc_export RB_TEST_PROM_EXPORTER_DIR "$SVC_DIR/exporter"
  svc_export RB_TEST_PROM_LOG "$SVC_DIR/prometheus.log"
}

svc_prometheus_start() {
  local prom port eport i out
  prom=$(command -v prometheus || echo /usr/bin/prometheus)
  [[ -x "$prom" ]] || svc_die "prometheus not found (install prometheus: scripts/install-deps)"
  [[ -x /usr/bin/python3 ]] || svc_die "/usr/bin/python3 not found (scripts/install-deps)"
  if svc_prometheus_running; then
    svc_prometheus_export
    svc_log "already running on 127.0.0.1:$(<"$SVC_DIR/port")"
    return 0
  fi
  svc_prometheus_stop

  mkdir -p "$SVC_DIR/exporter" "$SVC_DIR/data"
  cat >"$SVC_DIR/exporter/metrics" <<'METRICS'
# HELP integration_up Whether an integration of the new payroll system works (1) or not (0).
# TYPE integration_up gauge
integration_up{name="bank"} 0
integration_up{name="gl"} 0
integration_up{name="tax"} 1
METRICS
  eport=$(svc_free_port)
  port=$(svc_free_port)
  [[ "$port" != "$eport" ]] || port=$(svc_free_port)
  svc_spawn "$SVC_DIR/exporter.pid" "$SVC_DIR/exporter.log" \
    /usr/bin/python3 -m http.server "$eport" --bind 127.0.0.1 --directory "$SVC_DIR/exporter"
  svc_wait_tcp "$eport" 20 || svc_die "the static exporter did not start on 127.0.0.1:$eport"
  cat >"$SVC_DIR/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: integrations
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:$eport']
CONF
  svc_spawn "$SVC_DIR/prometheus.pid" "$SVC_DIR/prometheus.log" \
    "$prom" --config.file="$SVC_DIR/prometheus.yml" --storage.tsdb.path="$SVC_DIR/data" \
    --web.listen-address="127.0.0.1:$port" --storage.tsdb.retention.time=1h
  printf '%s\n' "$port" >"$SVC_DIR/port"
  svc_wait_tcp "$port" 30 || svc_die "prometheus did not listen on 127.0.0.1:$port (see $SVC_DIR/prometheus.log)"
  # Ready once the first scrape is in: the query the tests use answers 2.
  for ((i = 0; i < 300; i++)); do
    out=$(curl -sS --max-time 2 "http://127.0.0.1:$port/api/v1/query" \
      --data-urlencode 'query=count(integration_up == 0)' 2>/dev/null || true)
    [[ "$out" == *'"2"]'* ]] && break
    sleep 0.1
  done
  [[ "$out" == *'"2"]'* ]] || svc_die "prometheus has no scraped data after 30 s: $out"
  svc_prometheus_export
  svc_log "running on 127.0.0.1:$port, scraping 127.0.0.1:$eport"
}

svc_prometheus_stop() {
  svc_kill "$SVC_DIR/prometheus.pid"
  svc_kill "$SVC_DIR/exporter.pid"
  rm -rf "$SVC_DIR/data" "$SVC_DIR/exporter" "$SVC_DIR/port" "$SVC_DIR/prometheus.yml"
}
