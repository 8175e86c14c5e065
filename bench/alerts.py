#!/usr/bin/env python3
"""Alert latency, real processes: events appended to a watched file at a steady rate (the
sample mix, with the default rule pack loaded), and among them marker events that a match
rule turns into an alert; each marker's latency is append → the webhook receiver has it
(agent batching, TLS ingest, journal fsync, the alert sink, the store, the dispatcher, HTTP).

    .venv/bin/python bench/alerts.py [--rate 2000 --seconds 20 --markers-per-s 10 --agent-max-age 1.0]

Prints one line of key=value figures.
"""

from __future__ import annotations

import argparse
import base64
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditseal.dev import devsetup, samples  # noqa: E402
from bench.e2e import _ok, _program_pid, cpu_seconds, free_port, percentile, wait  # noqa: E402

MARKER_RULE = """rules:
  - name: bench-marker
    kind: match
    severity: low
    where: {event.action: bench_marker}
"""


class Receiver:
    def __init__(self):
        self.arrived: dict[int, float] = {}
        self.alerts = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                now = time.time()
                alert = orjson.loads(body)["data"]
                outer.alerts += 1
                if alert["rule"] == "bench-marker":
                    outer.arrived.setdefault(alert["details"]["context"]["labels"]["mark"], now)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=2000, help="events/s appended")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--markers-per-s", type=int, default=10)
    parser.add_argument("--agent-max-age", type=float, default=1.0, help="agent batch max_age (its default: 1 s)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="auditseal-bench-alerts-"))
    rules = root / "rules"
    shutil.copytree(devsetup.RULES_DIR, rules)
    (rules / "bench.yaml").write_text(MARKER_RULE)
    receiver = Receiver()
    (root / "webhook-secret").write_text("whsec_" + base64.b64encode(os.urandom(32)).decode() + "\n")
    setup = devsetup.setup(
        root,
        ingest_port=free_port(),
        admin_port=free_port(),
        agent_overrides={"log_level": "warning", "batch": {"max_age": args.agent_max_age}},
        collector_overrides={"log_level": "warning"},
        webhook_url=receiver.url,
        rules_dir=rules,
    )

    def spawn(program: str, config: Path) -> subprocess.Popen:
        command = [sys.executable, "-m", f"{program}.main", "run", "--config", str(config)]
        return subprocess.Popen(command, stderr=open(root / f"{program}.log", "w"))

    collector = spawn("collector", setup.collector_config)
    wait(lambda: _ok(setup.admin_url + "/healthz"), 30, "collector")
    agent = spawn("agent", setup.agent_config)
    watched = setup.watch_dir / "bench.jsonl"
    written: dict[int, float] = {}
    try:
        time.sleep(1.0)
        pid = _program_pid(collector)
        cpu0 = cpu_seconds(pid)
        total = int(args.rate * args.seconds)
        every = max(args.rate // args.markers_per_s, 1)
        began = time.monotonic()
        with open(watched, "ab") as f:
            for i in range(total):
                if i % every == 0:
                    mark = i // every
                    line = orjson.dumps(
                        {
                            "@timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                            "event": {"action": "bench_marker", "category": ["configuration"]},
                            "labels": {"mark": mark},
                        }
                    )
                    f.write(line + b"\n")
                    f.flush()
                    written[mark] = time.time()
                else:
                    f.write(samples.lines(i, 1, "acme"))
                if i % max(args.rate // 200, 1) == 0:
                    f.flush()
                    lag = began + i / args.rate - time.monotonic()
                    if lag > 0:
                        time.sleep(lag)
        wait(lambda: len(receiver.arrived) >= len(written), 120, "every marker alert")
        cpu = cpu_seconds(pid) - cpu0
    finally:
        for proc in (agent, collector):
            os.kill(_program_pid(proc), 15)
        agent.wait(60)
        collector.wait(60)
        receiver.server.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    latencies = [(receiver.arrived[m] - written[m]) * 1000 for m in written]
    print(
        f"alerts rate={args.rate}/s seconds={args.seconds:g} markers={len(written)} "
        f"agent_max_age={args.agent_max_age}s alerts_received={receiver.alerts} "
        f"p50_ms={percentile(latencies, 50):.0f} p99_ms={percentile(latencies, 99):.0f} "
        f"max_ms={max(latencies):.0f} collector_cpu_s={cpu:.1f} "
        f"collector_cpu_share={cpu / args.seconds:.0%}"
    )


if __name__ == "__main__":
    main()
