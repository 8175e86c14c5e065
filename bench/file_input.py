#!/usr/bin/env python3
"""File input figures with the real agent (no collector: everything stops in the spool).

1. lines/s from one file into the spool, and lines per agent CPU-second;
2. resident memory with 1,000 watched files.

    .venv/bin/python bench/file_input.py [--lines 300000] [--files 1000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditseal.dev import devsetup, samples  # noqa: E402
from bench.e2e import _ok, cpu_seconds, free_port, metric, peak_rss_mb, wait  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_agent(root: Path, files_glob: str | None = None):
    port = free_port()
    setup = devsetup.setup(
        root,
        ingest_port=free_port(),
        admin_port=free_port(),
        agent_overrides={"metrics_listen": f"127.0.0.1:{port}", "log_level": "warning"},
    )
    if files_glob:
        import yaml

        config = yaml.safe_load(setup.agent_config.read_text())
        config["inputs"][0]["paths"] = [files_glob]
        setup.agent_config.write_text(yaml.safe_dump(config))
    agent = subprocess.Popen(
        [sys.executable, "-m", "agent.main", "run", "--config", str(setup.agent_config)],
        stderr=open(root / "agent.log", "w"),
    )
    url = f"http://127.0.0.1:{port}"
    wait(lambda: _ok(url + "/metrics"), 30, "agent")
    return setup, agent, url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup, agent, url = start_agent(Path(tmp) / "one")
        try:
            blob = samples.lines(0, args.lines, "acme")
            cpu0, t0 = cpu_seconds(agent.pid), time.monotonic()
            (setup.watch_dir / "big.jsonl").write_bytes(blob)
            wait(lambda: metric(url, "auditseal_agent_events_spooled_total") >= args.lines, 600, "spooled")
            elapsed, cpu = time.monotonic() - t0, cpu_seconds(agent.pid) - cpu0
            one = (args.lines / elapsed, args.lines / cpu, peak_rss_mb(agent.pid))
        finally:
            agent.terminate()
            agent.wait(30)
        many_dir = Path(tmp) / "many-files"
        many_dir.mkdir()
        per_file = 100
        for i in range(args.files):
            (many_dir / f"app-{i:04d}.jsonl").write_bytes(samples.lines(i * per_file, per_file, "acme"))
        setup, agent, url = start_agent(Path(tmp) / "many", str(many_dir / "*.jsonl"))
        try:
            total = args.files * per_file
            t0 = time.monotonic()
            wait(lambda: metric(url, "auditseal_agent_events_spooled_total") >= total, 600, "spooled")
            many_elapsed = time.monotonic() - t0
            time.sleep(2)  # idle with every file open and watched
            many = (rss_mb(agent.pid), peak_rss_mb(agent.pid), total / many_elapsed)
        finally:
            agent.terminate()
            agent.wait(30)
    print(
        f"file_input lines={args.lines} into_spool_lps={one[0]:,.0f} lines_per_cpu_s={one[1]:,.0f} "
        f"rss_peak_mb={one[2]:.0f} | files={args.files} rss_idle_mb={many[0]:.0f} rss_peak_mb={many[1]:.0f} "
        f"lps={many[2]:,.0f}"
    )


if __name__ == "__main__":
    main()
