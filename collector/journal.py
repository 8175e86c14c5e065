"""The collector's durable journal: batches are fsynced here before the agent gets its 200.

Built on ``auditseal.segments`` (record framing v1, magic ``ASJL``). One record per
tenant in each accepted batch, kind ``BATCH`` (1), seq = the last event sequence in the
record, payload::

    {"agent": ..., "tenant": ..., "ingested": ...} \\n <event line> \\n <event line> ...

Event lines are kept exactly as the agent sent them (verified, not rewritten) so the
acknowledgement path never re-serialises; consumers materialise the stored event
(``stored.materialise``: derived ``event.id``, ``event.ingested``) deterministically, so
every replay stores the very same bytes.

Appends from concurrent requests are group-committed: one write and one fsync for all
batches waiting at that moment. Consumers read with their own cursors and ``release``
what they have durably processed; whole segments every consumer has passed are deleted,
after the dedupe high-water marks are snapshotted (``dedupe.json``) so they outlive them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from auditseal.records import Record
from auditseal.segments import Position, SegmentLog, write_atomic

from .admit import Dedupe

MAGIC = b"ASJL"
BATCH = 1


@dataclass(frozen=True)
class BatchMeta:
    agent: str
    tenant: str
    ingested: str


def encode_batch(meta: BatchMeta, lines: list[bytes]) -> bytes:
    head = orjson.dumps({"agent": meta.agent, "tenant": meta.tenant, "ingested": meta.ingested})
    return head + b"\n" + b"\n".join(lines)


def batch_meta(payload: bytes) -> BatchMeta:
    head = orjson.loads(payload.partition(b"\n")[0])
    return BatchMeta(head["agent"], head["tenant"], head["ingested"])


def decode_batch(payload: bytes) -> tuple[BatchMeta, list[bytes]]:
    _, _, body = payload.partition(b"\n")
    return batch_meta(payload), body.split(b"\n") if body else []


class Journal:
    def __init__(self, directory: Path, max_segment_bytes: int, max_bytes: int | None = None):
        self.directory = Path(directory)
        self.max_bytes = max_bytes  # when sinks lag this far, ingest refuses new batches (503)
        self._usage = (0.0, 0)  # (measured at, bytes): cheap enough to ask per request
        self.log = SegmentLog(self.directory / "segments", MAGIC, max_segment_bytes, frozenset({BATCH}))
        self.dedupe_path = self.directory / "dedupe.json"
        self.dedupe = Dedupe()
        self._subscribers: list[asyncio.Event] = []
        self._pending: list[tuple[list[tuple[int, bytes]], asyncio.Future]] = []
        self._flushing = False
        self._cursors: dict[str, Position] = {}
        self.failing: str | None = None  # the last append's error, until one succeeds

    def open(self) -> None:
        """Recover: cut a torn tail, then rebuild dedupe marks from snapshot + segments."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log.open()
        if self.dedupe_path.exists():
            self.dedupe.high.update(orjson.loads(self.dedupe_path.read_bytes()))
        for segment in self.log.segment_ids():
            for record in self.log.segment_records(segment):
                self.dedupe.stored(batch_meta(record.payload).agent, record.seq)

    async def append(self, records: list[tuple[int, bytes]]) -> None:
        """Durably append one batch's (last seq, payload) records; returns once fsynced.

        Concurrent batches share one write and one fsync (group commit)."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((records, future))
        if not self._flushing:
            self._flushing = True
            asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                items = [(BATCH, seq, payload) for records, _ in batch for seq, payload in records]
                try:
                    await asyncio.to_thread(self.log.append, items)
                except Exception as exc:  # disk full, I/O error: every waiter hears of it
                    self.failing = f"{type(exc).__name__}: {exc}"
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                self.failing = None
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)
                for event in self._subscribers:
                    event.set()
        finally:
            self._flushing = False

    def bytes_held(self, max_age: float = 1.0) -> int:
        measured_at, held = self._usage
        now = time.monotonic()
        if now - measured_at > max_age:
            held = sum(self.log.segment_size(s) for s in self.log.segment_ids())
            self._usage = (now, held)
        return held

    def full(self) -> bool:
        """The bound is reached: sinks are this far behind (an index or archive outage)."""
        return self.max_bytes is not None and self.bytes_held() >= self.max_bytes

    def subscribe(self) -> asyncio.Event:
        """An event set after every durable append (each consumer clears its own)."""
        event = asyncio.Event()
        self._subscribers.append(event)
        return event

    def read(self, position: Position) -> tuple[list[Record], Position]:
        return self.log.read(position)

    def start(self) -> Position:
        return self.log.first_position()

    @property
    def end(self) -> Position:
        return self.log.end

    def register(self, consumer: str, position: Position) -> None:
        self._cursors[consumer] = position

    def release(self, consumer: str, position: Position) -> int:
        """A consumer has durably processed everything before ``position``."""
        self._cursors[consumer] = position
        oldest = min(self._cursors.values()).segment
        if oldest <= self.log.segment_ids()[0]:
            return 0
        write_atomic(self.dedupe_path, orjson.dumps(self.dedupe.high))
        return self.log.delete_before(oldest)

    def close(self) -> None:
        self.log.close()
