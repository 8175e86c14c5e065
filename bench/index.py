#!/usr/bin/env python3
"""The SQLite index against SQLite itself, in one run: rows/s of the real sink
(``SqliteIndex.process``: decode, materialise, rows, one transaction per batch), and of the
same sink in its worker process as the collector runs it by default (``IndexProcess``: the
records handed over a socket pair, one batch in flight), beside a raw ``executemany`` of the
same rows into the same schema (indexes, text index, triggers), in interleaved rounds; then
how the sink's rate bends as the table grows.

    .venv/bin/python bench/index.py [--events 200000] [--batch 5000] [--rounds 3]
    .venv/bin/python bench/index.py --grow 10000000 [--block 100000]

``--grow`` stores that many events through the sink into one index and prints rows/s per
block, and the ratio of the slowest of the last three blocks to the first block. Events are
realistic stored ones (``auditseal.dev.samples`` at ``--event-bytes``, 16 agents, 3 tenants,
timestamps moving forward as a live feed's do).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditseal import runtime  # noqa: E402
from auditseal.dev import samples  # noqa: E402
from auditseal.formats.event import format_ts  # noqa: E402
from collector.journal import BatchMeta, Cursor, Entry, encode_batch  # noqa: E402
from collector.sinks.base import Batch  # noqa: E402
from collector.sinks.index_process import IndexProcess  # noqa: E402
from collector.sinks.sqlite_index import INSERT, SqliteIndex, row  # noqa: E402
from collector.sinks.stored import materialise  # noqa: E402

AGENTS = 16
TENANTS = ("acme", "globex", "initech")
START = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)


class Feed:
    """Journal batches as ingest writes them: one agent and tenant each, sequences rising."""

    def __init__(self, batch: int, event_bytes: int):
        self.batch = batch
        self.event_bytes = event_bytes
        self.seqs = [0] * AGENTS
        self.n = 0
        self.offset = 0

    def next_batch(self) -> Batch:
        agent = self.n // self.batch % AGENTS
        tenant = TENANTS[agent % len(TENANTS)]
        lines = []
        for _ in range(self.batch):
            self.n += 1
            self.seqs[agent] += 1
            doc = samples.event(self.n, tenant, START + dt.timedelta(milliseconds=self.n))
            doc["message"] += " " + "x" * max(self.event_bytes - 330, 0)
            doc["event"]["sequence"] = self.seqs[agent]
            doc["event"]["created"] = doc["@timestamp"]
            doc["agent"] = {"id": f"agent-{agent}", "type": "auditseal", "version": "bench"}
            lines.append(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
        meta = BatchMeta(f"agent-{agent}", tenant, format_ts(START + dt.timedelta(milliseconds=self.n)))
        self.offset += 1
        return Batch(
            [Entry(Cursor("local", (1, self.offset)), encode_batch(meta, lines))], Cursor("local", (1, self.offset + 1))
        )


def rows_of(batch: Batch) -> list[tuple]:
    return [
        row(*materialise(*_meta_and_line(entry.payload, line)))
        for entry in batch.entries
        for line in _lines(entry.payload)
    ]


def _meta_and_line(payload: bytes, line: bytes) -> tuple[BatchMeta, bytes]:
    head = orjson.loads(payload.partition(b"\n")[0])
    return BatchMeta(head["agent"], head["tenant"], head["ingested"]), line


def _lines(payload: bytes) -> list[bytes]:
    return payload.partition(b"\n")[2].split(b"\n")


def fresh_index(root: Path, name: str) -> SqliteIndex:
    index = SqliteIndex(root / f"{name}.db")
    index.open()
    return index


def run_sink(batches: list[Batch], root: Path, name: str) -> float:
    index = fresh_index(root, name)
    t0 = time.perf_counter()
    for batch in batches:
        index.process(batch)
    elapsed = time.perf_counter() - t0
    index.close()
    return elapsed


def run_worker(batches: list[Batch], root: Path, name: str) -> float:
    index = IndexProcess(root / f"{name}.db")
    index.open()
    t0 = time.perf_counter()
    for batch in batches:
        index.process(batch)
    index.checkpoint()  # the last batch answered: all stored
    elapsed = time.perf_counter() - t0
    index.close()
    return elapsed


def run_raw(rows: list[list[tuple]], root: Path, name: str) -> float:
    fresh_index(root, name).close()  # the same schema, indexes and triggers
    conn = sqlite3.connect(root / f"{name}.db", isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    t0 = time.perf_counter()
    for chunk in rows:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT, chunk)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def compare(args) -> None:
    feed = Feed(args.batch, args.event_bytes)
    batches = [feed.next_batch() for _ in range(args.events // args.batch)]
    rows = [rows_of(b) for b in batches]
    events = sum(len(r) for r in rows)
    runs = {"raw": lambda r: run_raw(rows, Path(tmp), f"raw{r}")}
    runs["sink"] = lambda r: run_sink(batches, Path(tmp), f"sink{r}")
    runs["worker"] = lambda r: run_worker(batches, Path(tmp), f"worker{r}")
    rates: dict[str, list[float]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, run in runs.items():
                gc.collect()
                elapsed = run(r)
                rates[name].append(events / elapsed)
                print(f"  round={r} {name}: {events / elapsed:,.0f} rows/s", flush=True)
    raw, sink, worker = (statistics.median(rates[name]) for name in ("raw", "sink", "worker"))
    print(
        f"index events={events} batch={args.batch} raw_rows_per_s={raw:,.0f} sink_rows_per_s={sink:,.0f} "
        f"sink/raw={sink / raw:.2f} worker_rows_per_s={worker:,.0f} worker/raw={worker / raw:.2f}"
    )


def grow(args) -> None:
    feed = Feed(args.batch, args.event_bytes)
    per_block = max(args.block // args.batch, 1)
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        index = fresh_index(Path(tmp), "grow")
        stored = 0
        while stored < args.grow:
            batches = [feed.next_batch() for _ in range(per_block)]
            t0 = time.perf_counter()
            for batch in batches:
                index.process(batch)
            elapsed = time.perf_counter() - t0
            stored += per_block * args.batch
            rates.append(per_block * args.batch / elapsed)
            size = (Path(tmp) / "grow.db").stat().st_size + (Path(tmp) / "grow.db-wal").stat().st_size
            print(f"  rows={stored:,} block_rows_per_s={rates[-1]:,.0f} db_mib={size / 2**20:,.0f}", flush=True)
        index.close()
        count = sqlite3.connect(Path(tmp) / "grow.db").execute("SELECT count(*) FROM events").fetchone()[0]
    assert count == stored, f"stored {count} rows for {stored} events"
    last = min(rates[-3:])
    print(
        f"index-grow rows={stored} first_block_rows_per_s={rates[0]:,.0f} slowest_last_blocks_rows_per_s={last:,.0f} "
        f"slowdown={rates[0] / last:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000, help="events per journal record (one sink call)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--event-bytes", type=int, default=450)
    parser.add_argument("--grow", type=int, help="store this many events into one index, block by block")
    parser.add_argument("--block", type=int, default=100_000)
    args = parser.parse_args()
    runtime.tune_gc()  # as the collector runs
    grow(args) if args.grow else compare(args)


if __name__ == "__main__":
    main()
