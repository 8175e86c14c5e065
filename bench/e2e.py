#!/usr/bin/env python3
"""End-to-end benchmark: file append → queryable in the SQLite index, real processes.

Phase 1 (throughput): N events appended to a watched file at once; measures events/s until
all are acknowledged and until all are queryable, the CPU seconds each process spent, and
peak RSS. Phase 2 (latency): events appended at a steady rate; reports the append → journal
(event.ingested − @timestamp) percentiles. The collector's CPU and RSS include its index
worker process's (``--index-thread``: the index on a thread of the collector instead).

    .venv/bin/python bench/e2e.py [--events 200000] [--rate 2000 --seconds 5]

Prints one line of key=value figures.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditseal.dev import devsetup, samples  # noqa: E402
from auditseal.formats.event import parse_ts  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def family(pid: int) -> list[int]:
    """``pid`` and its descendants (the collector's index worker process)."""
    found = [pid]
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return []
    for task in tasks:
        try:  # a thread may end while we look
            children = (task / "children").read_text().split()
        except FileNotFoundError:
            continue
        for child in children:
            found += family(int(child))
    return found


def tree_cpu_seconds(pid: int) -> float:
    return sum(cpu_seconds(p) for p in family(pid))


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=60) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def indexed(path: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute("SELECT max(rowid) FROM events").fetchone()[0] or 0
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def wait(predicate, timeout: float, what: str, every: float = 0.02) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(every)
    raise SystemExit(f"timed out waiting for {what}")


def worst_ack_to_queryable(
    acked: list[tuple[float, float]], queryable: list[tuple[float, float]], start: float
) -> float:
    """An upper bound on the longest any event waited from its acknowledgement to being
    queryable, from counts sampled over time. Each time the queryable count rises, the events
    it passed became queryable by then; the earliest acknowledged of them (the first) was not
    yet acknowledged at the last sample whose acknowledged count was below it. A count that
    stays put while nothing new is acknowledged (the agent waiting out its last partial batch)
    is no delay."""
    worst, before = 0.0, 0.0
    for t, count in queryable:
        if count <= before:
            continue
        first = before + 1
        not_yet = max((ta for ta, n in acked if n < first and ta <= t), default=start)
        worst = max(worst, t - not_yet)
        before = count
    return worst


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=2000, help="events/s in the latency phase")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the latency phase")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--event-bytes", type=int, default=900, help="JSON line size (realistic audit events: 300-1,500 B)"
    )
    parser.add_argument(
        "--s3-endpoint", metavar="URL", help="archive into S3 with Object Lock there (a new bucket; AWS_* credentials)"
    )
    parser.add_argument(
        "--profile", metavar="DIR", help="record py-spy profiles (collapsed stacks) of both processes into DIR"
    )
    parser.add_argument("--flamegraph", action="store_true", help="with --profile: SVG flame graphs instead")
    parser.add_argument(
        "--backlog",
        action="store_true",
        help="spool every event while the collector is down, then start it: the agent ships a backlog",
    )
    parser.add_argument(
        "--pipelining", type=int, help="the agent's output.pipelining (batches in flight); the shipped default if unset"
    )
    parser.add_argument(
        "--index-thread",
        action="store_true",
        help="the SQLite index on a thread of the collector (index.own_process: false), not its worker process",
    )
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="auditseal-bench-"))
    agent_metrics = free_port()
    collector_overrides: dict = {"log_level": "warning"}
    if args.index_thread:
        collector_overrides["index"] = {"type": "sqlite", "own_process": False}
    if args.s3_endpoint:
        from auditseal.storage.archive_s3 import make_client

        bucket = f"auditseal-bench-{os.getpid()}-{int(time.time())}"
        make_client(args.s3_endpoint).create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        collector_overrides["archive"] = {"type": "s3", "bucket": bucket, "endpoint_url": args.s3_endpoint}
        collector_overrides["retention"] = {"archive_days": 1}
    agent_overrides: dict = {"metrics_listen": f"127.0.0.1:{agent_metrics}", "log_level": "warning"}
    if args.pipelining is not None:
        agent_overrides["output"] = {"pipelining": args.pipelining}
    setup = devsetup.setup(
        root,
        ingest_port=free_port(),
        admin_port=free_port(),
        agent_overrides=agent_overrides,
        collector_overrides=collector_overrides,
    )
    agent_url = f"http://127.0.0.1:{agent_metrics}"

    def spawn(program: str, config: Path) -> subprocess.Popen:
        command = [sys.executable, "-m", f"{program}.main", "run", "--config", str(config)]
        if args.profile:
            Path(args.profile).mkdir(parents=True, exist_ok=True)
            kind = "svg" if args.flamegraph else "collapsed"
            out = Path(args.profile).resolve() / f"{program}.{kind}"
            command = [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--format",
                "flamegraph" if args.flamegraph else "raw",
                "--gil",  # only the thread holding the GIL: CPU, not threads waiting
                "--subprocesses",  # the collector's index worker process too
                "-r",
                "250",
                "-o",
                str(out),
                "--",
            ] + command
        return subprocess.Popen(command, stderr=open(root / f"{program}.log", "w"))

    def start_collector() -> subprocess.Popen:
        proc = spawn("collector", setup.collector_config)
        wait(lambda: _ok(setup.admin_url + "/healthz"), 30, "collector")
        return proc

    def append(blob: bytes) -> None:
        with open(watched, "ab") as f:
            for i in range(0, len(blob), 1 << 20):
                f.write(blob[i : i + (1 << 20)])

    index = root / "collector" / "index.sqlite"
    watched = setup.watch_dir / "bench.jsonl"
    blob = samples.lines(0, args.events, "acme", args.event_bytes)
    collector = None if args.backlog else start_collector()
    agent = spawn("agent", setup.agent_config)
    wait(lambda: _ok(agent_url + "/metrics"), 30, "agent")
    try:
        if args.backlog:
            append(blob)
            wait(lambda: metric(agent_url, "auditseal_agent_events_spooled_total") >= args.events, 600, "spooled")
            collector = start_collector()
        pids = (_program_pid(agent), _program_pid(collector))
        cpu0 = (cpu_seconds(pids[0]), tree_cpu_seconds(pids[1]))
        t0 = time.monotonic()
        if not args.backlog:
            append(blob)
        # Acknowledged and queryable counts over time: how long after its acknowledgement
        # each event became queryable (the worst case is printed).
        acked_at: list[tuple[float, float]] = []
        queryable_at: list[tuple[float, float]] = []

        def acked_all() -> bool:
            acked_at.append((time.monotonic(), metric(agent_url, "auditseal_agent_events_acked_total")))
            queryable_at.append((time.monotonic(), indexed(index)))
            return acked_at[-1][1] >= args.events

        def indexed_all() -> bool:
            queryable_at.append((time.monotonic(), indexed(index)))
            return queryable_at[-1][1] >= args.events

        t_acked = wait(acked_all, 600, "acks", every=0.1)  # a scrape costs the agent CPU: not too often
        cpu_ack = (cpu_seconds(pids[0]) - cpu0[0], tree_cpu_seconds(pids[1]) - cpu0[1])
        t_indexed = wait(indexed_all, 600, "index", every=0.1)
        ack_to_queryable = worst_ack_to_queryable(acked_at, queryable_at, t0)
        archived = 'auditseal_collector_sink_events_total{sink="archive"}'
        t_archived = wait(lambda: metric(setup.admin_url, archived) >= args.events, 600, "archive")
        cpu1 = (cpu_seconds(pids[0]) - cpu0[0], tree_cpu_seconds(pids[1]) - cpu0[1])

        # Latency phase: a steady trickle, each event stamped when written.
        paced = int(args.rate * args.seconds)
        start_n = args.events
        with open(watched, "ab") as f:
            began = time.monotonic()
            for i in range(paced):
                f.write(samples.lines(start_n + i, 1, "acme", args.event_bytes))
                if i % max(args.rate // 100, 1) == 0:
                    f.flush()
                    lag = began + i / args.rate - time.monotonic()
                    if lag > 0:
                        time.sleep(lag)
        wait(lambda: indexed(index) >= args.events + paced, 120, "latency phase")
        conn = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
        latencies = [
            (parse_ts(ing) - parse_ts(ts)).total_seconds() * 1000
            for ts, ing in conn.execute(
                "SELECT json_extract(doc, '$.\"@timestamp\"'), json_extract(doc, '$.event.ingested') "
                "FROM events WHERE seq > ?",
                (args.events,),
            )
        ]
        conn.close()
        rss = (peak_rss_mb(_program_pid(agent)), sum(peak_rss_mb(p) for p in family(_program_pid(collector))))
    finally:
        for proc in (agent, collector):
            if proc is not None:
                os.kill(_program_pid(proc), 15)
        agent.wait(60)
        if collector is not None:
            collector.wait(60)
        if not args.keep:
            subprocess.run(["rm", "-rf", str(root)])
    n = args.events
    print(
        f"e2e events={n} index={'thread' if args.index_thread else 'process'} "
        f"acked_eps={n / (t_acked - t0):,.0f} indexed_eps={n / (t_indexed - t0):,.0f} "
        f"archived_eps={n / (t_archived - t0):,.0f}{' (s3)' if args.s3_endpoint else ''} "
        f"agent_cpu_s={cpu1[0]:.1f} agent_lines_per_cpu_s={n / max(cpu_ack[0], 1e-9):,.0f} "
        f"collector_cpu_s={cpu1[1]:.1f} collector_ack_path_ev_per_cpu_s~{n / max(cpu_ack[1], 1e-9):,.0f} "
        f"ack_to_queryable_max_s={ack_to_queryable:.2f} "
        f"latency_rate={args.rate}/s p50_ms={percentile(latencies, 50):.0f} "
        f"p99_ms={percentile(latencies, 99):.0f} max_ms={max(latencies):.0f} "
        f"agent_rss_peak_mb={rss[0]:.0f} collector_rss_peak_mb={rss[1]:.0f}"
    )
    if args.profile and not args.flamegraph:
        for program in ("agent", "collector"):
            print(f"{program} self time (py-spy):")
            print(summarise(Path(args.profile) / f"{program}.collapsed"))


def _program_pid(proc: subprocess.Popen) -> int:
    """The Python process itself (a child when running under py-spy)."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    kids = children.read_text().split() if children.exists() else []
    return int(kids[0]) if kids else proc.pid


def summarise(collapsed: Path, top: int = 15) -> str:
    """Self time by function from py-spy's collapsed stacks."""
    totals: dict[str, int] = {}
    all_samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frame = stack.split(";")[-1]
        totals[frame] = totals.get(frame, 0) + int(count)
        all_samples += int(count)
    rows = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    return "\n".join(f"  {100 * c / all_samples:5.1f}%  {f}" for f, c in rows)


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


if __name__ == "__main__":
    main()
