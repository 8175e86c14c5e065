"""Inputs → spool: numbering events and committing them with their input positions."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import orjson

from auditseal.formats.event import canonical_bytes, event_id
from auditseal.logs import kv

from .inputs import Chunk, DeadLetter
from .normalise import stamp
from .spool import Spool

log = logging.getLogger("auditseal.agent.pipeline")
RETRY_SECONDS = 0.5


class DeadLetterFile:
    """Malformed lines, one JSON object per line, fsynced before their offsets commit."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, dead: list[DeadLetter]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        blob = b"".join(
            orjson.dumps(
                {
                    "input": d.input,
                    "origin": d.origin,
                    "offset": d.offset,
                    "reason": d.reason,
                    "message": d.message,
                    "line": d.line.decode("utf-8", "backslashreplace"),
                }
            )
            + b"\n"
            for d in dead
        )
        with open(self.path, "ab") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())


@dataclass
class Prepared:
    payloads: list[bytes]
    first_seq: int
    positions: dict
    dead: list[DeadLetter]
    dead_written: bool = False

    @property
    def size(self) -> int:
        return sum(len(p) + 17 for p in self.payloads) + 1024


class SpoolWriter:
    """Single writer: drains chunks, assigns ``event.sequence``, appends with one fsync.

    Waits (and so stops the inputs, through the bounded queue) while the spool is at its
    byte bound or the disk is full, and retries the very same append when room returns:
    the sequence numbers stay those first assigned.
    """

    def __init__(
        self,
        spool: Spool,
        agent_id: str,
        positions: dict,
        dead_letters: DeadLetterFile,
        metrics,
        spooled: asyncio.Event,
        max_events_per_append: int = 20_000,
    ):
        self.spool = spool
        self.agent_id = agent_id
        self.positions = positions  # input name → position state, as last committed
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.spooled = spooled
        # Bounds memory: a chunk is up to read_chunk_bytes of lines, parsed (about 5x as objects).
        self.queue: asyncio.Queue[Chunk | None] = asyncio.Queue(maxsize=2)
        self.max_events_per_append = max_events_per_append
        self.blocked: str | None = None  # why appends wait, for status

    async def submit(self, chunk: Chunk) -> None:
        await self.queue.put(chunk)

    async def run(self) -> None:
        done = False
        while not done:
            chunks = [await self.queue.get()]
            count = len(chunks[0].events) if chunks[0] else 0
            size = chunks[0].size if chunks[0] else 0
            # Appends stay well inside a segment so segments keep near their size bound.
            max_bytes = self.spool.log.max_segment_bytes // 4
            while count < self.max_events_per_append and size < max_bytes and not self.queue.empty():
                chunk = self.queue.get_nowait()
                chunks.append(chunk)
                count += len(chunk.events) if chunk else 0
                size += chunk.size if chunk else 0
            if None in chunks:
                done = True
                chunks = [c for c in chunks if c is not None]
            if chunks:
                await self._commit(self.prepare(chunks))
                self.spooled.set()

    def prepare(self, chunks: list[Chunk]) -> Prepared:
        first = seq = self.spool.next_seq
        payloads: list[bytes] = []
        dead: list[DeadLetter] = []
        for chunk in chunks:
            for doc in chunk.events:
                stamp(doc, self.agent_id, seq, event_id(self.agent_id, seq))
                payloads.append(canonical_bytes(doc))
                seq += 1
            dead.extend(chunk.dead)
            self.positions[chunk.input] = chunk.position
        return Prepared(payloads, first, dict(self.positions), dead)

    async def _commit(self, prepared: Prepared) -> None:
        while True:
            if not self.spool.has_room(prepared.size):
                self._block("spool full", "spool at its max_bytes bound; inputs paused until acks free room")
                await asyncio.sleep(RETRY_SECONDS)
                continue
            try:
                await asyncio.to_thread(self._write, prepared)
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
                    raise
                self.metrics.disk_full.inc()
                self._block("disk full", f"cannot write the spool ({exc.strerror}); retrying")
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if self.blocked:
                log.warning("spool writable again; inputs resume", extra=kv(was=self.blocked))
                self.blocked = None
                self.metrics.spool_blocked.set(0)
            return

    def _block(self, reason: str, message: str) -> None:
        if self.blocked != reason:
            log.warning(message, extra=kv(reason=reason, spool_bytes=self.spool.size_bytes()))
            self.blocked = reason
            self.metrics.spool_blocked.set(1)

    def _write(self, prepared: Prepared) -> None:
        if prepared.dead and not prepared.dead_written:
            self.dead_letters.write(prepared.dead)
            prepared.dead_written = True
            for d in prepared.dead:
                self.metrics.malformed.labels(d.input, d.reason).inc()
                log.warning(
                    "line dead-lettered",
                    extra=kv(input=d.input, file=d.origin, offset=d.offset, reason=d.reason, error=d.message),
                )
        self.spool.append(prepared.payloads, prepared.first_seq, prepared.positions)
        self.metrics.spooled.inc(len(prepared.payloads))
        self.metrics.spool_bytes.set(self.spool.size_bytes())

    async def close(self) -> None:
        await self.queue.put(None)
