#!/usr/bin/env bash
# The scaled shape on loopback: 3 NATS JetStream nodes (replicas 3), 2 collectors sharing the
# stream with 2 journal partitions (the sinks run where the sinks lease is, each partition's
# sealer where its lease is; sealer state in the replicated bucket), 1 agent knowing both.
set -euo pipefail
RUN_DIR=${RUN_DIR:-run-cluster}
BIN=${BIN:-.venv/bin}
NATS_PORT=${NATS_PORT:-4222}
ROUTE_PORT=${ROUTE_PORT:-6222}

stop() {
  for name in agent collector-2 collector; do
    pidfile="$RUN_DIR/$name.pid"
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      echo "stopped $name"
    fi
    rm -f "$pidfile"
  done
  [ -d "$RUN_DIR/nats" ] && "$BIN/python" -m auditseal.dev.nats stop --dir "$RUN_DIR/nats"
  return 0
}

start() {
  stop >/dev/null
  mkdir -p "$RUN_DIR"
  servers=$("$BIN/python" -m auditseal.dev.nats start --dir "$RUN_DIR/nats" --client-port "$NATS_PORT" --cluster-port "$ROUTE_PORT")
  "$BIN/auditseal" dev setup --dir "$RUN_DIR" --ingest-port 9543 --admin-port 9544 >/dev/null
  "$BIN/python" - "$RUN_DIR" "$servers" <<'PY'
import sys, yaml, pathlib
root, servers = pathlib.Path(sys.argv[1]), sys.argv[2].split(",")
base = yaml.safe_load((root / "collector.yaml").read_text())
# 1 GiB: three nodes on one disk each reserve the stream's bound up front.
base["journal"] = {"type": "nats", "servers": servers, "replicas": 3, "partitions": 2, "max_bytes": 1 << 30}
(root / "collector.yaml").write_text(yaml.safe_dump(base))
second = dict(base, collector=dict(base["collector"], id="collector-2"))
second["ingest"] = dict(base["ingest"], listen="127.0.0.1:9545")
second["admin"] = dict(base["admin"], listen="127.0.0.1:9546")
(root / "collector-2.yaml").write_text(yaml.safe_dump(second))
agent = yaml.safe_load((root / "agent.yaml").read_text())
agent["output"]["collectors"] = [agent["output"]["collectors"][0], "https://localhost:9545"]
(root / "agent.yaml").write_text(yaml.safe_dump(agent))
PY
  for name in collector collector-2; do
    "$BIN/auditseal-collector" run --config "$RUN_DIR/$name.yaml" >>"$RUN_DIR/$name.log" 2>&1 &
    echo $! >"$RUN_DIR/$name.pid"
  done
  for port in 9544 9546; do
    for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "collector on admin port $port did not start; see $RUN_DIR/*.log" >&2; exit 1; }
  done
  "$BIN/auditseal-agent" run --config "$RUN_DIR/agent.yaml" >>"$RUN_DIR/agent.log" 2>&1 &
  echo $! >"$RUN_DIR/agent.pid"
  "$BIN/auditseal" dev events --file "$RUN_DIR/logs/app-audit.jsonl" --count 200 --start "$(date +%s)" >/dev/null
  echo "append:     $BIN/auditseal dev events --file $RUN_DIR/logs/app-audit.jsonl --count 100"
  echo "NATS: $servers"
  echo "collectors: ingest https://localhost:9543 and :9545, admin http://127.0.0.1:9544 and :9546"
  echo "who holds what: curl -s http://127.0.0.1:9544/readyz  (leases: sinks, sealer-p0, sealer-p1)"
  echo "stop with: make cluster-stop"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
