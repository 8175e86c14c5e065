"""Acked events/s on the journal's append path, side by side in one run: the local journal,
NATS JetStream at replicas 1 and 3 with one collector process, and replicas 3 with two
collector processes appending at once (the ratio is what scaling out buys on this machine).

Each process appends batches of ``--batch`` events (~360-byte lines) for its own agents with
``--concurrency`` requests in flight, each awaiting its acknowledgement (local: fsynced; NATS:
replicated and, with the dev cluster's ``sync_interval: always``, fsynced on each replica).

    .venv/bin/python bench/journal_nats.py --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditseal.dev import nats as dev_nats  # noqa: E402
from collector.config import NatsJournalConfig  # noqa: E402
from collector.journal.base import MarkMoved, Write  # noqa: E402
from collector.journal.batch import BatchMeta, encode_batch  # noqa: E402
from collector.journal.local import LocalJournal  # noqa: E402
from collector.journal.nats import JournalUnavailable, NatsJournal  # noqa: E402

LINE = (
    b'{"@timestamp":"2026-12-02T10:00:00.000Z","event":{"action":"login","outcome":"success"},'
    + b'"x":"'
    + b"a" * 250
    + b'"}'
)


async def drive(journal, tag: str, seconds: float, batch: int, concurrency: int) -> int:
    done = 0
    deadline = time.monotonic() + seconds

    async def worker(w: int) -> None:
        nonlocal done
        agent, seq = f"bench-{tag}-{w}", 0
        while time.monotonic() < deadline:
            seq += batch
            payload = encode_batch(BatchMeta(agent, "acme", "2026-12-02T10:00:00Z"), [LINE] * batch)
            try:
                await journal.refresh(agent)
                await journal.append([Write(agent, seq, payload)])
            except MarkMoved:
                continue
            except JournalUnavailable:  # a stream just created electing its leader: as ingest would, again
                seq -= batch
                await asyncio.sleep(0.2)
                continue
            done += batch

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return done


def run_one(kind: str, servers: list[str], replicas: int, stream: str, tag: str, args, out) -> None:
    async def main():
        if kind == "local":
            journal = LocalJournal(Path(tempfile.mkdtemp()) / "journal", 64 * 1024 * 1024, 16 * 1024**3)
            journal.open()
        else:
            cfg = NatsJournalConfig(type="nats", servers=servers, replicas=replicas, stream=stream,
                                    subject_prefix=f"bench.{stream.lower()}")  # fmt: skip
            journal = NatsJournal(cfg, tag)
            await journal.connect()
        n = await drive(journal, tag, args.seconds, args.batch, args.concurrency)
        if kind != "local":
            await journal.aclose()
        out.put(n)

    asyncio.run(main())


def measure(label: str, kind: str, procs: int, servers, replicas: int, stream: str, args) -> float:
    out: multiprocessing.Queue = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=run_one, args=(kind, servers, replicas, stream, f"{stream}{i}", args, out))
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    total = sum(out.get(timeout=args.seconds + 120) for _ in workers)
    for w in workers:
        w.join()
    rate = total / args.seconds
    print(f"{label:<42} {rate:>12,.0f} events/s  ({total} events, {procs} process(es))", flush=True)
    return rate


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = dev_nats.start(Path(tmp) / "nats", 3, 24222, 26222)
        servers = [n.url for n in cluster]
        try:
            local = measure("local journal, 1 collector", "local", 1, servers, 1, "L", args)
            r1 = measure("JetStream replicas 1, 1 collector", "nats", 1, servers, 1, "R1", args)
            r3 = measure("JetStream replicas 3, 1 collector", "nats", 1, servers, 3, "R3A", args)
            r3x2 = measure("JetStream replicas 3, 2 collectors", "nats", 2, servers, 3, "R3B", args)
        finally:
            dev_nats.stop(Path(tmp) / "nats")
    print(f"ratios: 2 collectors / 1 (R3) = {r3x2 / r3:.2f}; JetStream R3 / local = {r3 / local:.2f}; "
          f"R1 / local = {r1 / local:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
