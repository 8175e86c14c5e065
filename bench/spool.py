#!/usr/bin/env python3
"""Spool figures: append throughput with one fsync per batch, and backlog drain rate.

    .venv/bin/python bench/spool.py [--events 200000] [--batch 1000]

1. In-process: events appended to a Spool in batches, each batch fsynced.
2. Real processes: the agent spools N events while the collector is down, then the
   collector starts; reports the drain rate (events/s acknowledged) and the agent's peak RSS.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.spool import Spool  # noqa: E402
from auditseal.dev import devsetup, samples  # noqa: E402
from auditseal.formats.event import canonical_bytes  # noqa: E402
from bench.e2e import _ok, free_port, metric, peak_rss_mb, wait  # noqa: E402


def append_rate(events: int, batch: int) -> tuple[float, float]:
    docs = [canonical_bytes(samples.event(i, "acme")) for i in range(batch)]
    size = sum(len(d) for d in docs)
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp), 32 << 20)
        spool.open()
        start = time.perf_counter()
        for first in range(1, events + 1, batch):
            spool.append(docs, first, {"app": {"f": {"offset": first}}})
        elapsed = time.perf_counter() - start
        spool.close()
    return events / elapsed, (events // batch) * size / elapsed / 1e6


def drain_rate(events: int) -> tuple[float, float]:
    root = Path(tempfile.mkdtemp(prefix="auditseal-spool-bench-"))
    agent_port = free_port()
    setup = devsetup.setup(
        root,
        ingest_port=free_port(),
        admin_port=free_port(),
        agent_overrides={"metrics_listen": f"127.0.0.1:{agent_port}", "log_level": "warning"},
        collector_overrides={"log_level": "warning"},
    )
    url = f"http://127.0.0.1:{agent_port}"
    agent = subprocess.Popen(
        [sys.executable, "-m", "agent.main", "run", "--config", str(setup.agent_config)],
        stderr=open(root / "agent.log", "w"),
    )
    collector = None
    try:
        wait(lambda: _ok(url + "/metrics"), 30, "agent")
        (setup.watch_dir / "backlog.jsonl").write_bytes(samples.lines(0, events, "acme"))
        wait(lambda: metric(url, "auditseal_agent_events_spooled_total") >= events, 600, "spooled")
        collector = subprocess.Popen(
            [sys.executable, "-m", "collector.main", "run", "--config", str(setup.collector_config)],
            stderr=open(root / "collector.log", "w"),
        )
        wait(lambda: _ok(setup.admin_url + "/healthz"), 30, "collector")
        start = time.monotonic()
        wait(lambda: metric(url, "auditseal_agent_events_acked_total") >= events, 600, "drained")
        return events / (time.monotonic() - start), peak_rss_mb(agent.pid)
    finally:
        for proc in (agent, collector):
            if proc:
                proc.terminate()
                proc.wait(60)
        subprocess.run(["rm", "-rf", str(root)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    eps, mbps = append_rate(args.events, args.batch)
    drain, rss = drain_rate(args.events)
    print(
        f"spool append_eps={eps:,.0f} ({mbps:.0f} MB/s, fsync per {args.batch}-event batch) "
        f"backlog_drain_eps={drain:,.0f} agent_rss_peak_mb={rss:.0f} events={args.events}"
    )


if __name__ == "__main__":
    main()
