"""A worker of a sink that every collector of a fleet runs at once (the Elasticsearch index):
the workers share one durable JetStream consumer, each message goes to one of them and is
acknowledged once its events are stored; one that cannot be stored is handed back and
delivered again, perhaps to another collector. The consumer keeps the position, not the
sink. A redelivered message (its worker died, or failed) is a *replay*: the sink looks its
events up before storing them (``Batch.replay``), so nothing is indexed twice.

Only for sinks that store idempotently and need no order across batches; the alert engine
(stateful, ordered) and the sealers (one chain writer) run under leases instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from auditseal import crashpoints
from auditseal.errors import Halt
from auditseal.logs import kv

from .base import Batch
from .runner import SinkRunner, unless_stopped

log = logging.getLogger("auditseal.collector.sinks")


class SharedSinkRunner:
    def __init__(self, journal, sink, metrics, poll: float = 0.5):
        self.journal = journal
        self.sink = sink
        self.metrics = metrics
        self.poll = poll
        self.position = None  # (the shared consumer keeps it: no lag by cursor here)
        self.failing: str | None = None
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await SinkRunner._call(self.sink.open)
                break
            except Halt:
                raise
            except Exception as exc:
                self.failing = f"{type(exc).__name__}: {exc}"
                log.error("sink cannot open; will retry", extra=kv(sink=self.sink.name, error=self.failing))
                await self._pause(2.0)
        while not self._stopping.is_set():
            try:
                got = await self._fetch()
            except OSError as exc:  # JetStream unreachable: fetch again later
                self.failing = f"{type(exc).__name__}: {exc}"
                log.error("sink cannot read the journal; will retry", extra=kv(sink=self.sink.name, error=self.failing))
                await self._pause(min(self.poll * 4, 5.0))
                continue
            if not got:
                continue
            msgs = [m for m, _ in got]
            entries = [e for _, es in got for e in es]
            if not entries:  # only messages the journal set aside: nothing to store
                await self.journal.settle(msgs, stored=True)
                continue
            batch = Batch(entries, entries[-1].cursor, replay=any(m.metadata.num_delivered > 1 for m in msgs))
            try:
                await SinkRunner._call(self.sink.process, batch)
            except Halt:
                raise
            except Exception as exc:  # its store is down or broken: hand the messages back
                self.failing = f"{type(exc).__name__}: {exc}"
                log.error("sink failed; its messages go back to the shared consumer",
                          extra=kv(sink=self.sink.name, error=self.failing))  # fmt: skip
                await self.journal.settle(msgs, stored=False, retry_in=2.0)
                await self._pause(2.0)
                continue
            self.failing = None
            self.metrics.sink_events.labels(self.sink.name).inc(batch.count)
            crashpoints.hit("shared_after_store")  # tests: stored, not acknowledged
            await self.journal.settle(msgs, stored=True)

    async def _fetch(self):
        """The next messages, or None when stopped meanwhile (a fetch changes nothing)."""
        return await unless_stopped(self.journal.shared_fetch(self.sink.name), self._stopping)
