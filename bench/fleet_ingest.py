#!/usr/bin/env python3
"""Acked events/s over the whole ack path — mTLS, HMAC, lz4, admission, journal append and
its acknowledgement — with real collector processes, side by side in one run: one collector
on the local journal, then one and two collectors on the same 3-node JetStream cluster
(replicas 3, ``sync_interval: always``), their sinks running as a fleet runs them.

``--agents`` simulated agents (certificates and HMAC keys of their own) each send
``--batch``-event batches one after another, each awaiting its 200; agent i posts to
collector i mod n. The batches are built before the clock starts, so the figure is the
collectors' (and JetStream's), not the load generator's encoding.

    .venv/bin/python bench/fleet_ingest.py [--events 200000 --agents 8 --batch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.normalise import Source, from_json_line, stamp  # noqa: E402
from auditseal.dev import devsetup, pki, samples  # noqa: E402
from auditseal.dev import nats as dev_nats  # noqa: E402
from auditseal.formats import wire  # noqa: E402
from auditseal.formats.event import canonical_bytes, event_id, utc_now_iso  # noqa: E402
from bench.e2e import cpu_seconds, free_port, percentile  # noqa: E402


def bodies_for(agent: str, events: int, batch: int) -> list[tuple[int, int, bytes]]:
    """(first seq, last seq, lz4 body) of every batch of ``agent``."""
    src, now = Source("acme", "bench-host"), utc_now_iso()
    out = []
    for first in range(1, events + 1, batch):
        count = min(batch, events - first + 1)
        lines = []
        for i, raw in enumerate(samples.lines(first, count, "acme").splitlines()):
            doc = from_json_line(raw, src, now)
            stamp(doc, agent, first + i, event_id(agent, first + i))
            lines.append(canonical_bytes(doc))
        out.append((first, first + count - 1, wire.encode_body(lines)))
    return out


def hmac_key(pki_dir: Path, agent: str) -> tuple[str, bytes]:
    data = yaml.safe_load((pki_dir / f"agent-{agent}.hmac.yaml").read_text())
    return data["key_id"], bytes.fromhex(data["secret"])


async def send_all(urls: list[str], pki_dir: Path, work: dict[str, list]) -> tuple[float, list[float]]:
    latencies: list[float] = []

    async def one_agent(i: int, agent: str, batches: list) -> None:
        ctx = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
        ctx.load_cert_chain(str(pki_dir / f"agent-{agent}.crt"), str(pki_dir / f"agent-{agent}.key"))
        key_id, key = hmac_key(pki_dir, agent)
        url = urls[i % len(urls)] + wire.PATH
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=1)) as session:
            for first, last, body in batches:
                while True:
                    headers = wire.build_headers(
                        agent=agent, key_id=key_id, key=key, timestamp=int(time.time()),
                        first_seq=first, last_seq=last, body=body,
                    )  # fmt: skip
                    sent = time.perf_counter()
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        if resp.status == 200:
                            latencies.append(time.perf_counter() - sent)
                            break
                    await asyncio.sleep(0.05)  # 503 while a journal settles: as an agent would, again

    start = time.perf_counter()
    await asyncio.gather(*(one_agent(i, a, b) for i, (a, b) in enumerate(work.items())))
    return time.perf_counter() - start, latencies


def start_collector(config: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "collector.main", "run", "--config", str(config)],
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
    )


def wait_ready(admin_url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"collector exited ({proc.returncode})")
        try:
            with urllib.request.urlopen(admin_url + "/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("collector did not come up")


def scenario(label: str, root: Path, journal: dict | None, collectors: int, args) -> float:
    agents = [f"bench-{i}" for i in range(args.agents)]
    ingest, admin = free_port(), free_port()
    setup = devsetup.setup(
        root, ingest_port=ingest, admin_port=admin, collector_overrides={"journal": journal} if journal else {}
    )
    for agent in agents:
        pki.issue_agent(root / "pki", agent, ["acme"])
    base = yaml.safe_load(setup.collector_config.read_text())
    configs, urls, admins = [setup.collector_config], [setup.ingest_url], [setup.admin_url]
    for i in range(1, collectors):
        cfg = copy.deepcopy(base)
        port, admin_port = free_port(), free_port()
        cfg["collector"]["id"] = f"bench-collector-{i + 1}"
        cfg["ingest"]["listen"], cfg["admin"]["listen"] = f"127.0.0.1:{port}", f"127.0.0.1:{admin_port}"
        path = root / f"collector-{i + 1}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        configs.append(path)
        urls.append(f"https://127.0.0.1:{port}")
        admins.append(f"http://127.0.0.1:{admin_port}")
    per_agent = args.events // len(agents)
    work = {a: bodies_for(a, per_agent, args.batch) for a in agents}
    procs = [start_collector(c, root / f"collector-{i}.log") for i, c in enumerate(configs)]
    try:
        for url, proc in zip(admins, procs, strict=True):
            wait_ready(url, proc)
        time.sleep(2)  # leases taken, consumers created
        cpu0, own0 = [cpu_seconds(p.pid) for p in procs], time.process_time()
        elapsed, latencies = asyncio.run(send_all(urls, root / "pki", work))
        cpu = sum(cpu_seconds(p.pid) - c for p, c in zip(procs, cpu0, strict=True))
        sender = time.process_time() - own0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
    total = per_agent * len(agents)
    rate = total / elapsed
    print(
        f"{label:<40} {rate:>10,.0f} acked events/s  batch ack p50 {percentile(latencies, 50) * 1000:6.1f} ms "
        f"p99 {percentile(latencies, 99) * 1000:6.1f} ms  collectors' CPU {cpu:5.1f} s "
        f"({total / max(cpu, 1e-9):,.0f} events/CPU-s), load generator's {sender:4.1f} s",
        flush=True,
    )
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="per scenario, spread over the agents")
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        nats_dir = Path(tmp) / "nats"
        cluster = dev_nats.start(nats_dir, 3, 34222, 36222)
        servers = [n.url for n in cluster]
        try:
            local = scenario("local journal, 1 collector", Path(tmp) / "local", None, 1, args)
            nats = {"type": "nats", "servers": servers, "replicas": 3, "partitions": 2}
            one = scenario(
                "JetStream R3, 1 collector",
                Path(tmp) / "one",
                {**nats, "stream": "B1", "subject_prefix": "bench.b1"},
                1,
                args,
            )
            two = scenario(
                "JetStream R3, 2 collectors",
                Path(tmp) / "two",
                {**nats, "stream": "B2", "subject_prefix": "bench.b2"},
                2,
                args,
            )
        finally:
            dev_nats.stop(nats_dir)
    print(f"ratios: 2 collectors / 1 (JetStream R3) = {two / one:.2f}; JetStream R3 / local (1 collector) = "
          f"{one / local:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
