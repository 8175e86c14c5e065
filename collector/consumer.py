"""Journal consumers: each sink keeps its own cursor, processes idempotently, and replays
from its cursor after a crash, so replays never duplicate."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import Protocol

from auditseal.errors import Halt
from auditseal.logs import kv
from auditseal.records import Record
from auditseal.segments import Position

from .journal import Journal

log = logging.getLogger("auditseal.collector.consumer")


class Sink(Protocol):
    name: str

    def open(self) -> Position | None:
        """The position this sink has durably processed up to (None: from the start)."""

    def process(self, records: list[tuple[Position, Record]], end: Position) -> None:
        """Store the batches in ``records``; durably record ``end`` as the new cursor."""

    def close(self) -> None: ...

    # open/process/close may also be coroutine functions (the Elasticsearch sink is).


class ConsumerRunner:
    def __init__(self, journal: Journal, sink: Sink, metrics, min_events: int = 1,
                 max_wait: float = 0.0, poll: float = 0.5):
        self.journal = journal
        self.sink = sink
        self.metrics = metrics
        self.min_events = min_events
        self.max_wait = max_wait
        self.poll = poll
        self._stopping = asyncio.Event()
        self.position: Position | None = None
        self.failing: str | None = None
        self._quarantine_seen: tuple | None = None
        self.appended = journal.subscribe()
        # Hold the journal from its start until the sink says where it is: a sink that cannot
        # open (its store is down) must not let the others release what it still needs.
        journal.register(sink.name, journal.start())

    def stop(self) -> None:
        self._stopping.set()
        self.appended.set()

    @staticmethod
    async def _call(fn, *args):
        """Async sinks run on the loop; blocking ones on a worker thread."""
        if inspect.iscoroutinefunction(fn):
            return await fn(*args)
        return await asyncio.to_thread(fn, *args)

    async def _open(self) -> Position | None:
        """Open the sink, retrying while its store is unreachable; ``Halt`` stops the program."""
        while True:
            try:
                return await self._call(self.sink.open)
            except Halt:
                raise
            except Exception as exc:
                self.failing = f"{type(exc).__name__}: {exc}"
                self.metrics.sink_errors.labels(self.sink.name).inc()
                log.error("sink cannot open; will retry", extra=kv(sink=self.sink.name, error=self.failing))
                await self._pause(min(self.poll * 4, 5.0))
                if self._stopping.is_set():
                    return None  # stopped before its store came back: nothing to close

    async def run(self) -> None:
        cursor = await self._open()
        if self._stopping.is_set() and self.failing:
            return
        self.failing = None
        self.position = cursor or self.journal.start()
        self.journal.register(self.sink.name, self.position)
        pending: list[tuple[Position, Record]] = []
        events, first_at = 0, 0.0
        read_at = self.position
        while True:
            self.appended.clear()
            await self._retry_quarantined()
            records, nxt = self.journal.read(read_at)
            for record in records:
                pending.append((Position(nxt.segment, record.offset), record))
                events += record.payload.count(b"\n")
            if records and not first_at:
                first_at = time.monotonic()
            read_at = nxt
            waited = time.monotonic() - first_at if pending else 0.0
            flush = pending and (events >= self.min_events or waited >= self.max_wait
                                 or self._stopping.is_set())
            if flush:
                if not await self._process(pending, read_at):
                    if self._stopping.is_set():
                        return  # its store is down: what it has not stored stays in the journal
                    # The sink failed: read again from its durable cursor after a pause.
                    pending, events, first_at, read_at = [], 0, 0.0, self.position
                    await self._pause(min(self.poll * 4, 5.0))
                    continue
                pending, events, first_at = [], 0, 0.0
                continue
            if records:
                continue
            if self._stopping.is_set():
                return
            wait = self.poll if not pending else max(self.max_wait - waited, 0.01)
            await self._pause(wait)

    async def _process(self, pending: list[tuple[Position, Record]], end: Position) -> bool:
        try:
            await self._call(self.sink.process, pending, end)
        except Halt:
            raise
        except Exception as exc:  # the sink's store is down or broken: retry, never skip
            self.failing = f"{type(exc).__name__}: {exc}"
            self.metrics.sink_errors.labels(self.sink.name).inc()
            log.error("sink failed; will retry from its cursor",
                      extra=kv(sink=self.sink.name, error=self.failing))
            return False
        self.failing = None
        self.position = end
        self.metrics.sink_events.labels(self.sink.name).inc(sum(r.payload.count(b"\n") for _, r in pending))
        self.journal.release(self.sink.name, end)
        return True

    async def _retry_quarantined(self) -> None:
        """Offer the sink the quarantined events an operator asked to retry
        (``auditseal-collector quarantine retry``); the file is read only when it changed."""
        quarantine = getattr(self.sink, "quarantine", None)
        if quarantine is None:
            return
        try:
            stat = quarantine.path.stat()
        except FileNotFoundError:
            return
        mark = (stat.st_size, stat.st_mtime_ns)
        if mark == self._quarantine_seen:
            return
        wanted = await asyncio.to_thread(quarantine.pending_retry)
        if wanted is None:
            self._quarantine_seen = mark
            return
        items = [quarantine.entry_input(e) for e in wanted]
        try:
            stored = await self._call(self.sink.retry, items) if items else []
        except Exception as exc:  # its store is down: the request stays, tried again later
            log.error("quarantine retry failed; will try again", extra=kv(sink=self.sink.name, error=str(exc)))
            return
        await asyncio.to_thread(quarantine.finish_retry, stored)
        self._quarantine_seen = None
        log.info("quarantine retried", extra=kv(sink=self.sink.name, asked=len(items), stored=len(stored)))

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.appended.wait(), seconds)
        except asyncio.TimeoutError:
            pass
