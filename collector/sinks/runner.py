"""The sink runner: reads the journal from the sink's cursor, hands the sink decoded batches,
and replays from the sink's durable cursor after a failure or a crash — sinks store
idempotently, so replays never duplicate. The runner persists nothing itself."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time

from auditseal.errors import Halt, Retryable
from auditseal.logs import kv

from ..journal import Cursor, Journal, event_count
from .base import Batch, Sink

log = logging.getLogger("auditseal.collector.sinks")


async def unless_stopped(awaitable, stopping: asyncio.Event):
    """What ``awaitable`` returns, or None when ``stopping`` is set first (it is then
    cancelled: only for calls that change nothing, like a journal read)."""
    work = asyncio.ensure_future(awaitable)
    stopped = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if work.done():
        return work.result()
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError, OSError):
        await work
    return None


class SinkRunner:
    def __init__(
        self, journal: Journal, sink: Sink, metrics, min_events: int = 1, max_wait: float = 0.0, poll: float = 0.5
    ):
        self.journal = journal
        self.sink = sink
        self.metrics = metrics
        self.min_events = min_events
        self.max_wait = max_wait
        self.poll = poll
        self._stopping = asyncio.Event()
        self.position: Cursor | None = None
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

    def _failed(self, exc: Exception, message: str) -> float:
        """Record a failure; the pause before trying again."""
        self.failing = f"{type(exc).__name__}: {exc}"
        self.metrics.sink_errors.labels(self.sink.name).inc()
        if isinstance(exc, Retryable):
            log.error(message, extra=kv(sink=self.sink.name, error=self.failing))
            return exc.retry_after or min(self.poll * 4, 5.0)
        # Not a failure the sink translated: a defect. Never skip; retry slowly, with its trace.
        log.error(
            message + " (unexpected error: a defect)", exc_info=exc, extra=kv(sink=self.sink.name, error=self.failing)
        )
        return 5.0

    async def _open(self) -> Cursor | None:
        """Open the sink, retrying while its store is unreachable; ``Halt`` stops the program."""
        while True:
            try:
                return await self._call(self.sink.open)
            except Halt:
                raise
            except Exception as exc:
                await self._pause(self._failed(exc, "sink cannot open; will retry"))
                if self._stopping.is_set():
                    return None  # stopped before its store came back: nothing to close

    async def run(self) -> None:
        cursor = await self._open()
        if self._stopping.is_set() and self.failing:
            return
        self.failing = None
        self.position = cursor or self.journal.start()
        self.journal.register(self.sink.name, self.position)
        pending = Batch([], self.position)
        events, first_at = 0, 0.0
        read_at = self.position
        while True:
            self.appended.clear()
            await self._retry_quarantined()
            try:
                got = await self._read(read_at)
            except OSError as exc:  # a journal over the network is unreachable: read again later
                self.failing = f"{type(exc).__name__}: {exc}"
                log.error("sink cannot read the journal; will retry", extra=kv(sink=self.sink.name, error=self.failing))
                await self._pause(min(self.poll * 4, 5.0))
                continue
            if got is None:
                return  # stopped during a read: what it has not stored stays in the journal
            entries, nxt = got
            pending.entries.extend(entries)
            events += sum(event_count(entry.payload) for entry in entries)
            if entries and not first_at:
                first_at = time.monotonic()
            read_at = nxt
            waited = time.monotonic() - first_at if events else 0.0
            flush = events and (events >= self.min_events or waited >= self.max_wait or self._stopping.is_set())
            if flush:
                pending.end = read_at
                pause = await self._process(pending)
                if pause is not None:
                    if self._stopping.is_set():
                        return  # its store is down: what it has not stored stays in the journal
                    # The sink failed: read again from its durable cursor after a pause.
                    pending, events, first_at, read_at = Batch([], self.position), 0, 0.0, self.position
                    await self._pause(pause)
                    continue
                pending, events, first_at = Batch([], read_at), 0, 0.0
                continue
            if entries:
                continue
            if not events and (replay := await self._checkpoint()) is not None:
                # What the sink had in hand did not land: read again from its durable cursor.
                pending, events, first_at, read_at = Batch([], replay), 0, 0.0, replay
                await self._pause(self.poll)
                continue
            if self._stopping.is_set():
                return
            wait = self.poll if not events else max(self.max_wait - waited, 0.01)
            await self._pause(wait)

    async def _read(self, at: Cursor):
        """The journal's next entries; ``None`` when stopped meanwhile. A read over the network
        (NATS) is given up at a stop: it changes nothing, and a holder that lost its lease
        must not wait for an unreachable cluster before handing its work on."""
        result = self.journal.read(at)
        if not inspect.isawaitable(result):
            return result
        return await unless_stopped(result, self._stopping)

    async def _process(self, batch: Batch) -> float | None:
        """Hand the sink one batch; None when stored, else the pause before a replay."""
        try:
            durable = await self._call(self.sink.process, batch)
        except Halt:
            raise
        except Exception as exc:  # the sink's store is down or broken: retry, never skip
            replay_from = getattr(exc, "replay_from", None)
            if replay_from is not None:  # the sink went back to an older state of its own
                self.position = replay_from
            return self._failed(exc, "sink failed; will retry from its cursor")
        self.failing = None
        self.position = batch.end
        self.metrics.sink_events.labels(self.sink.name).inc(batch.count)
        self.journal.release(self.sink.name, durable or batch.end)
        return None

    async def _checkpoint(self) -> Cursor | None:
        """Caught up: a sink that records its cursor only now and then records it now, so the
        journal can release what it holds (a full journal takes no new events to move it).
        Returns where to read again when the sink lost what it had in hand (``replay_from``)."""
        checkpoint = getattr(self.sink, "checkpoint", None)
        if checkpoint is None:
            return None
        try:
            durable = await self._call(checkpoint)
        except Halt:
            raise
        except Exception as exc:
            self._failed(exc, "sink checkpoint failed; will retry")
            replay_from = getattr(exc, "replay_from", None)
            if replay_from is not None:
                self.position = replay_from
            return replay_from
        if durable is not None:
            self.journal.release(self.sink.name, durable)
        return None

    async def _retry_quarantined(self) -> None:
        """Offer the sink the quarantined events an operator asked to retry
        (``auditseal-collector quarantine retry``); the file is read only when it changed."""
        quarantine = self.sink.quarantine
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
