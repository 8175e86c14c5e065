"""The local journal: a directory of fsynced segment files on the collector's disk (the
embedded default). Built on ``auditseal.storage.segments`` (record framing v1, magic ``ASJL``): kind
``BATCH`` (1), seq = the last event sequence in the record, payload = ``journal.batch``.

Appends from concurrent requests are group-committed: one write and one fsync for all
batches waiting at that moment. Consumers read with their own cursors and ``release``
what they have durably processed; whole segments every consumer has passed are deleted,
after the marks are snapshotted (``dedupe.json``) so they outlive them.
Cursors: ``local`` with (segment, offset).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import orjson

from auditseal.logs import kv
from auditseal.storage.files import write_atomic
from auditseal.storage.segments import Position, SegmentLog

from .base import Cursor, Entry, Marks, Write
from .batch import batch_meta

MAGIC = b"ASJL"
BATCH = 1
KIND = "local"
log = logging.getLogger("auditseal.collector.journal")


def cursor_at(position: Position) -> Cursor:
    return Cursor(KIND, (position.segment, position.offset))


def position_of(cursor: Cursor) -> Position:
    if cursor.journal != KIND or len(cursor.at) != 2:
        raise ValueError(f"cursor {cursor.encode()} is not a local journal's (journal type changed?)")
    return Position(*cursor.at)


class LocalJournal:
    kind = KIND

    def __init__(self, directory: Path, max_segment_bytes: int, max_bytes: int | None = None):
        self.directory = Path(directory)
        self.max_bytes = max_bytes  # when sinks lag this far, ingest refuses new batches (503)
        self._usage = (0.0, 0)  # (measured at, bytes): cheap enough to ask per request
        self.log = SegmentLog(self.directory / "segments", MAGIC, max_segment_bytes, frozenset({BATCH}))
        self.dedupe_path = self.directory / "dedupe.json"
        self.marks = Marks()
        self._subscribers: list[asyncio.Event] = []
        self._pending: list[tuple[list[Write], asyncio.Future]] = []
        self._flushing = False
        self._cursors: dict[str, Position] = {}
        self.failing: str | None = None

    def open(self) -> None:
        """Recover: cut a torn tail, then rebuild the marks from snapshot + segments."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log.open()
        if self.log.recovered_tail:
            log.warning("journal tail was torn by a crash; cut it", extra=kv(where=self.log.recovered_tail))
        if self.dedupe_path.exists():
            self.marks.high.update(orjson.loads(self.dedupe_path.read_bytes()))
        for segment in self.log.segment_ids():
            for record in self.log.segment_records(segment):
                self.marks.stored(batch_meta(record.payload).agent, record.seq)

    async def refresh(self, agent: str, latest: bool = False) -> None:
        """Every mark is in memory (one collector writes this journal)."""

    async def append(self, writes: list[Write]) -> None:
        """Durably append ``writes``; returns once fsynced. Concurrent callers share one
        write and one fsync (group commit)."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((writes, future))
        if not self._flushing:
            self._flushing = True
            asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                writes = self.marks.passed([w for group, _ in batch for w in group])
                try:
                    await asyncio.to_thread(self.log.append, [(BATCH, w.last_seq, w.payload) for w in writes])
                except Exception as exc:  # disk full, I/O error: every waiter hears of it
                    self.failing = f"{type(exc).__name__}: {exc}"
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                self.failing = None
                for w in writes:
                    self.marks.stored(w.agent, w.last_seq)
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

    def bytes_behind(self, cursor: Cursor) -> int:
        at = position_of(cursor)
        return max(sum(self.log.segment_size(s) for s in self.log.segment_ids() if s >= at.segment) - at.offset, 0)

    def segments_held(self) -> int:
        return len(self.log.segment_ids())

    def full(self) -> bool:
        """The bound is reached: sinks are this far behind (an index or archive outage)."""
        return self.max_bytes is not None and self.bytes_held() >= self.max_bytes

    def subscribe(self) -> asyncio.Event:
        """An event set after every durable append (each consumer clears its own)."""
        event = asyncio.Event()
        self._subscribers.append(event)
        return event

    def read(self, cursor: Cursor) -> tuple[list[Entry], Cursor]:
        records, nxt = self.log.read(position_of(cursor))
        return [Entry(Cursor(KIND, (nxt.segment, r.offset)), r.payload) for r in records], cursor_at(nxt)

    def start(self) -> Cursor:
        return cursor_at(self.log.first_position())

    @property
    def end(self) -> Cursor:
        return cursor_at(self.log.end)

    def register(self, consumer: str, cursor: Cursor) -> None:
        self._cursors[consumer] = position_of(cursor)

    def release(self, consumer: str, cursor: Cursor) -> int:
        """A consumer has durably processed everything before ``cursor``."""
        self._cursors[consumer] = position_of(cursor)
        oldest = min(self._cursors.values()).segment
        if oldest <= self.log.segment_ids()[0]:
            return 0
        write_atomic(self.dedupe_path, orjson.dumps(self.marks.high))
        return self.log.delete_before(oldest)

    def close(self) -> None:
        self.log.close()
