#!/usr/bin/env bash
# Start (or stop) a local pipeline on the embedded default: dev PKI, collector, agent.
set -euo pipefail
RUN_DIR=${RUN_DIR:-run}
BIN=${BIN:-.venv/bin}
INGEST_PORT=${INGEST_PORT:-9443}
ADMIN_PORT=${ADMIN_PORT:-9444}
WEBHOOK_URL=${WEBHOOK_URL:-}  # alerts go to this webhook too (secret: $RUN_DIR/webhook-secret)

stop() {
  # SIGTERM, up to 15 s for a clean stop, then SIGKILL (every acknowledged event is in the
  # fsynced spool or journal); the pid file goes only once the process is gone.
  for name in agent collector; do
    pidfile="$RUN_DIR/$name.pid"
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then
        echo "$name (pid $pid) did not stop in 15 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      fi
      if kill -0 "$pid" 2>/dev/null; then
        echo "$name (pid $pid) is still running; pid file kept" >&2
        return 1
      fi
      echo "stopped $name"
    fi
    rm -f "$pidfile"
  done
}

start() {
  stop >/dev/null || { echo "cannot start: a previous pipeline is still running" >&2; exit 1; }
  mkdir -p "$RUN_DIR"
  "$BIN/auditseal" dev setup --dir "$RUN_DIR" --ingest-port "$INGEST_PORT" --admin-port "$ADMIN_PORT" \
    ${WEBHOOK_URL:+--webhook-url "$WEBHOOK_URL"} >/dev/null
  "$BIN/auditseal-collector" run --config "$RUN_DIR/collector.yaml" >>"$RUN_DIR/collector.log" 2>&1 &
  echo $! >"$RUN_DIR/collector.pid"
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$ADMIN_PORT/healthz" >/dev/null 2>&1 && break
    kill -0 "$(cat "$RUN_DIR/collector.pid")" 2>/dev/null || { echo "collector failed:"; tail -5 "$RUN_DIR/collector.log"; exit 1; }
    sleep 0.1
  done
  "$BIN/auditseal-agent" run --config "$RUN_DIR/agent.yaml" >>"$RUN_DIR/agent.log" 2>&1 &
  echo $! >"$RUN_DIR/agent.pid"
  since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  "$BIN/auditseal" dev events --file "$RUN_DIR/logs/app-audit.jsonl" --count 20 --start "$(date +%s)"
  token=$(cat "$RUN_DIR/admin-token")
  for _ in $(seq 50); do
    out=$("$BIN/auditseal" query --collector "http://127.0.0.1:$ADMIN_PORT" --token "$token" --tenant acme --since "$since" --q sample --limit 5 2>/dev/null || true)
    case "$out" in *"(5 events)"*) break ;; *) sleep 0.2 ;; esac
  done
  echo "$out"
  cat <<MSG

The pipeline is running (collector pid $(cat "$RUN_DIR/collector.pid"), agent pid $(cat "$RUN_DIR/agent.pid")).
  logs:      $RUN_DIR/collector.log, $RUN_DIR/agent.log
  append:    $BIN/auditseal dev events --file $RUN_DIR/logs/app-audit.jsonl --count 100
             (or any JSON line with event.action and event.category to $RUN_DIR/logs/*.jsonl)
  query:     AUDITSEAL_TOKEN=\$(cat $RUN_DIR/admin-token) $BIN/auditseal query \\
               --collector http://127.0.0.1:$ADMIN_PORT --tenant acme --user alice --action user_login
  alerts:    curl -H "Authorization: Bearer \$(cat $RUN_DIR/admin-token)" \\
               'http://127.0.0.1:$ADMIN_PORT/v1/alerts?tenant=acme'   (rules: configs/rules; webhook: make run WEBHOOK_URL=...)
  metrics:   curl http://127.0.0.1:$ADMIN_PORT/metrics
  stop:      make stop
MSG
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
