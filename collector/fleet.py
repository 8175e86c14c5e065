"""A fleet collector's sinks side (NATS journal): every collector takes batches; the one
holding the sinks lease (``journal.lease``) also runs the sinks, the integrity check and alert
delivery, over the shared data directory. It gives them up when the lease is lost and another
collector takes over within ``lease_ttl`` seconds of a holder's death.

On one host the data directory's ``flock`` is a second fence: a successor starts its sinks
only once the previous holder's process has let go of the directory (it died, or it noticed
the lost lease and stopped its sinks).
"""

from __future__ import annotations

import asyncio
import logging

from auditseal.errors import Halt
from auditseal.logs import kv

from .journal.lease import SinksLease

log = logging.getLogger("auditseal.collector.fleet")
STOP_SECONDS = 8.0


class Fleet:
    def __init__(self, journal, cfg, metrics, runners: list, new_runners, dispatcher, datalock):
        self.journal = journal
        self.cfg = cfg
        self.metrics = metrics
        self.runners = runners  # shared with readiness: the live runners
        self.new_runners = new_runners
        self.dispatcher = dispatcher
        self.datalock = datalock
        self.lease = SinksLease(
            journal.js,
            f"{cfg.journal.stream}_lease",
            f"{cfg.collector.id}",
            cfg.journal.lease_ttl,
            cfg.journal.replicas,
        )
        self._tasks: list[asyncio.Task] = []
        self._stopping = asyncio.Event()
        self._holder: str | None = None

    async def open(self) -> None:
        await self.lease.open()

    def holding(self) -> bool:
        return bool(self._tasks) and self.lease.held()

    def status(self) -> dict:
        return {
            "sinks_lease": {
                "held_here": self.holding(),
                "holder": self._holder,
                "token": self.lease.token if self.holding() else None,
                "stream_lag_messages": {r.name: r.pending for r in self.journal._readers.values()},
            }
        }

    async def run(self) -> None:
        beat = self.cfg.journal.lease_ttl / 3
        while not self._stopping.is_set():
            try:
                await self.journal.refresh_info()
                if self.journal.failing and self.journal.nc.is_connected:
                    self.journal.failing = None  # reachable again
            except Exception as exc:
                self.journal.failing = f"nats: {type(exc).__name__}: {exc}"[:300]
            if self._tasks:
                if not await self.lease.renew() or any(t.done() for t in self._tasks):
                    await self._give_up()
            elif await self.lease.acquire():
                await self._take()
            self._holder = await self.lease.holder_now()
            try:
                await asyncio.wait_for(self._stopping.wait(), beat)
            except asyncio.TimeoutError:
                pass

    async def _take(self) -> None:
        for _ in range(int(self.cfg.journal.lease_ttl * 10)):
            try:
                self.datalock.acquire()
                break
            except Halt:  # the previous holder on this host has not let go yet
                if not self.lease.held() or not await self.lease.renew():
                    return
                await asyncio.sleep(0.1)
        else:
            log.error("the data directory stays held by another process; giving the lease up")
            await self.lease.give_up()
            return
        self.metrics.sinks_lease_held.labels(str(self.lease.token)).set(1)
        fresh = self.new_runners()
        self.runners[:] = fresh
        self.dispatcher.resume()
        self._tasks = [asyncio.create_task(r.run()) for r in fresh] + [asyncio.create_task(self.dispatcher.run())]
        log.info("running the sinks", extra=kv(token=self.lease.token, holder=self.lease.holder))

    async def _give_up(self) -> None:
        for r in self.runners:
            r.stop()
        self.dispatcher.stop()
        _, late = await asyncio.wait(self._tasks, timeout=STOP_SECONDS)
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception():
                log.error("a sink task ended", exc_info=task.exception())
        self.metrics.sinks_lease_held.labels(str(self.lease.token)).set(0)
        if late:
            # A sink stuck inside a call to its store: the directory must not be handed on.
            log.error("sinks did not stop in time after the lease was lost; exiting")
            raise Halt("sinks did not stop after the sinks lease was lost")
        self._tasks = []
        self.runners[:] = []
        self.datalock.release()
        await self.lease.give_up()
        log.info("stopped the sinks", extra=kv(token=self.lease.token))

    async def stop(self) -> None:
        self._stopping.set()
        if self._tasks:
            await self._give_up()
