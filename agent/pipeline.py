"""Inputs → spool: numbering events and committing them with their input positions."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import orjson

from auditseal.event import canonical_bytes, event_id

from .inputs import Chunk, DeadLetter
from .normalise import stamp
from .spool import Spool

log = logging.getLogger("auditseal.agent.pipeline")


class DeadLetterFile:
    """Malformed lines, one JSON object per line, fsynced before their offsets commit."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, dead: list[DeadLetter]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        blob = b"".join(orjson.dumps({
            "input": d.input, "origin": d.origin, "offset": d.offset, "reason": d.reason,
            "message": d.message, "line": d.line.decode("utf-8", "backslashreplace"),
        }) + b"\n" for d in dead)
        with open(self.path, "ab") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())


class SpoolWriter:
    """Single writer: drains chunks, assigns ``event.sequence``, appends with one fsync."""

    def __init__(self, spool: Spool, agent_id: str, positions: dict, dead_letters: DeadLetterFile,
                 metrics, spooled: asyncio.Event, max_events_per_append: int = 20_000):
        self.spool = spool
        self.agent_id = agent_id
        self.positions = positions  # input name → position state, as last committed
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.spooled = spooled
        self.queue: asyncio.Queue[Chunk | None] = asyncio.Queue(maxsize=8)  # bounds memory
        self.max_events_per_append = max_events_per_append

    async def submit(self, chunk: Chunk) -> None:
        await self.queue.put(chunk)

    async def run(self) -> None:
        done = False
        while not done:
            chunks = [await self.queue.get()]
            count = len(chunks[0].events) if chunks[0] else 0
            while count < self.max_events_per_append and not self.queue.empty():
                chunk = self.queue.get_nowait()
                chunks.append(chunk)
                count += len(chunk.events) if chunk else 0
            if None in chunks:
                done = True
                chunks = [c for c in chunks if c is not None]
            if chunks:
                await asyncio.to_thread(self.commit, chunks)
                self.spooled.set()

    def commit(self, chunks: list[Chunk]) -> None:
        payloads: list[bytes] = []
        dead: list[DeadLetter] = []
        seq = self.spool.next_seq
        for chunk in chunks:
            for doc in chunk.events:
                stamp(doc, self.agent_id, seq, event_id(self.agent_id, seq))
                payloads.append(canonical_bytes(doc))
                seq += 1
            dead.extend(chunk.dead)
            self.positions[chunk.input] = chunk.position
        if dead:
            self.dead_letters.write(dead)
            for d in dead:
                self.metrics.malformed.labels(d.input, d.reason).inc()
                log.warning("line dead-lettered", extra={"fields": {
                    "input": d.input, "file": d.origin, "offset": d.offset, "reason": d.reason,
                    "error": d.message}})
        self.spool.append(payloads, self.spool.next_seq, self.positions)
        self.metrics.spooled.inc(len(payloads))

    async def close(self) -> None:
        await self.queue.put(None)
