"""A fleet collector's sinks side (NATS journal): every collector takes batches; the work
behind the journal is split into *roles*, each held by exactly one collector at a time
through its lease (``journal.lease``):

- ``sinks``: the index, the alert engine, alert delivery, the integrity check, and purging
  the stream;
- ``sealer-p<k>``, one per journal partition: the only writer of partition k's Merkle logs.

A collector takes a free role when it holds fewer than its share (roles / live collectors,
rounded up), one per beat, and hands a sealer back when it holds more (a collector joined),
so a fleet spreads the sealers out; it stops a role's work as soon
as its lease is lost, and another collector takes it over within ``lease_ttl`` seconds of a
holder's death. On one host each role's lock file in the data directory (``flock``) is a
second fence: a successor starts the work only once the previous holder's process let go.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from auditseal.errors import Halt
from auditseal.logs import kv

from .journal import lease as leases

log = logging.getLogger("auditseal.collector.fleet")
STOP_SECONDS = 8.0


@dataclass
class Role:
    key: str  # lease key: "sinks", "sealer-p<k>"
    lock: object  # a DataDirLock on this role's lock file
    make: Callable[[], list]  # fresh SinkRunners for one holding
    dispatcher: object | None = None  # alert delivery rides with the sinks role
    lease: leases.Lease | None = None
    runners: list = field(default_factory=list)
    tasks: list = field(default_factory=list)


def next_move(roles: list[str], held: list[str], members: int) -> tuple[str, str | None] | None:
    """What a collector holding ``held`` of ``roles`` does at a beat, ``members`` collectors
    alive: ``("take", None)`` a free role when below its share (roles / members, rounded up),
    ``("give", key)`` its last sealer when above it (a collector joined), else nothing."""
    share = math.ceil(len(roles) / max(members, 1))
    sealers = [k for k in held if k != "sinks"]
    if len(held) > share and sealers:
        return ("give", sealers[-1])
    if len(held) < share and len(held) < len(roles):
        return ("take", None)
    return None


class Fleet:
    def __init__(self, journal, cfg, metrics, runners: list, roles: list[Role]):
        self.journal = journal
        self.cfg = cfg
        self.metrics = metrics
        self.runners = runners  # shared with readiness: the live runners of every held role
        self.roles = roles
        self.member = cfg.collector.id
        self.bucket = None
        self._stopping = asyncio.Event()
        self._holders: dict[str, str | None] = {}
        self._members = 1

    async def open(self) -> None:
        c = self.cfg.journal
        self.bucket = await self.journal.until_started(
            "make the lease bucket",
            lambda: leases.open_bucket(self.journal.js, f"{c.stream}_lease", c.lease_ttl, c.replicas),
        )
        for role in self.roles:
            role.lease = leases.Lease(self.bucket, role.key, self.member, c.lease_ttl)

    def holding(self, key: str = "sinks") -> bool:
        role = next(r for r in self.roles if r.key == key)
        return bool(role.tasks) and role.lease is not None and role.lease.held()

    def status(self) -> dict:
        return {
            "leases": {
                r.key: {
                    "held_here": self.holding(r.key),
                    "holder": self._holders.get(r.key),
                    "token": r.lease.token if self.holding(r.key) else None,
                }
                for r in self.roles
            },
            "collectors_alive": self._members,
            "stream_lag_messages": self.journal.lag(),
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
            for consumer, behind in self.journal.lag().items():
                self.metrics.consumer_lag.labels(consumer).set(behind)
            await leases.announce(self.bucket, self.member)
            self._members = await leases.members(self.bucket)
            for role in self.roles:
                if role.tasks and (not await role.lease.renew() or any(t.done() for t in role.tasks)):
                    await self._give_up(role)
            move = next_move([r.key for r in self.roles], [r.key for r in self.roles if r.tasks], self._members)
            if move is not None and move[0] == "give":
                await self._give_up(next(r for r in self.roles if r.key == move[1]))
            elif move is not None:
                for role in self._free_first():
                    if not role.tasks and await role.lease.acquire():
                        await self._take(role)
                        break  # one per beat: the others get their turn
            for role in self.roles:
                self._holders[role.key] = await role.lease.holder_now()
            try:
                await asyncio.wait_for(self._stopping.wait(), beat)
            except asyncio.TimeoutError:
                pass

    def _free_first(self) -> list[Role]:
        """Roles to try, the sinks first, then the sealers from a place of our own, so two
        collectors starting together reach for different partitions."""
        sealers = [r for r in self.roles if r.key != "sinks"]
        start = sum(self.member.encode()) % len(sealers) if sealers else 0
        return [r for r in self.roles if r.key == "sinks"] + sealers[start:] + sealers[:start]

    async def _take(self, role: Role) -> None:
        for attempt in range(int(self.cfg.journal.lease_ttl * 4)):
            try:
                role.lock.acquire()
                break
            except Halt:  # the previous holder on this host has not let go yet
                # Renewed about every second while waiting (well inside ttl/3).
                if not role.lease.held() or (attempt % 4 == 3 and not await role.lease.renew()):
                    await role.lease.give_up()
                    return
                await asyncio.sleep(0.25)
        else:
            log.error("a role's lock stays held by another process; giving its lease up", extra=kv(role=role.key))
            await role.lease.give_up()
            return
        self.metrics.lease_held.labels(role.key, str(role.lease.token)).set(1)
        role.runners = role.make()
        self.runners.extend(role.runners)
        role.tasks = [asyncio.create_task(r.run()) for r in role.runners]
        if role.dispatcher is not None:
            role.dispatcher.resume()
            role.tasks.append(asyncio.create_task(role.dispatcher.run()))
        if role.key == "sinks":
            self.journal.purging = True
        log.info("running a role", extra=kv(role=role.key, token=role.lease.token, holder=self.member))

    async def _give_up(self, role: Role) -> None:
        if role.key == "sinks":
            self.journal.purging = False
        for r in role.runners:
            r.stop()
        if role.dispatcher is not None:
            role.dispatcher.stop()
        _, late = await asyncio.wait(role.tasks, timeout=STOP_SECONDS)
        for task in role.tasks:
            if task.done() and not task.cancelled() and task.exception():
                log.error("a task of a role ended", exc_info=task.exception(), extra=kv(role=role.key))
        self.metrics.lease_held.labels(role.key, str(role.lease.token)).set(0)
        if late:
            # A sink stuck inside a call to its store: its lock must not be handed on.
            log.error("a role's sinks did not stop in time after its lease was lost; exiting", extra=kv(role=role.key))
            raise Halt(f"the {role.key} sinks did not stop after their lease was lost")
        for r in role.runners:
            self.runners.remove(r)
        role.tasks, role.runners = [], []
        role.lock.release()
        await role.lease.give_up()
        log.info("stopped a role", extra=kv(role=role.key, token=role.lease.token))

    async def stop(self) -> None:
        self._stopping.set()
        for role in self.roles:
            if role.tasks:
                await self._give_up(role)
