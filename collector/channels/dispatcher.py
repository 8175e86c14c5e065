"""The dispatcher (a thin shell): sends due deliveries from the alert store, one channel at a
time per channel and the channels side by side, and records each answer as ``retry.decide``
says. A delivery's state lives in the store, so a restart goes on where it stood and never
resends what a channel took; one channel failing never touches another channel's deliveries.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Callable

import aiohttp

from auditseal.logs import kv

from ..alerts import DEAD, AlertStore, Delivery
from .base import Channel
from .retry import Decision, RetryPolicy, decide, parse_retry_after

log = logging.getLogger("auditseal.collector.channels")


def describe(exc: BaseException) -> str:
    """A transport failure in words that name no URL (a Slack URL is a secret)."""
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect: {exc.os_error.strerror or type(exc.os_error).__name__}"
    return type(exc).__name__


class Dispatcher:
    def __init__(
        self,
        store: AlertStore,
        channels: dict[str, Channel],
        policies: dict[str, RetryPolicy],
        metrics,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        batch: int = 50,
    ):
        self.store = store
        self.channels = channels
        self.policies = policies
        self.metrics = metrics
        self.clock = clock
        self.rand = rand
        self.batch = batch
        self.wakeup = asyncio.Event()
        self._stopping = False
        self._session: aiohttp.ClientSession | None = None

    def replace_channels(self, channels: dict[str, Channel], policies: dict[str, RetryPolicy]) -> None:
        """SIGHUP: deliver through these channels from now on; deliveries due on a channel that
        is gone stay stored (and are sent if it comes back)."""
        self.channels, self.policies = channels, policies
        self.wakeup.set()

    def wake(self) -> None:
        """New alerts are stored: look now rather than at the next due time."""
        self.wakeup.set()

    def stop(self) -> None:
        self._stopping = True
        self.wakeup.set()

    def resume(self) -> None:
        """Before running again after a stop (a fleet collector took the sinks lease back)."""
        self._stopping = False

    async def run(self) -> None:
        self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        try:
            while not self._stopping:
                self.wakeup.clear()
                await asyncio.gather(*(self._drain(name) for name in self.channels))
                await self._gauge()
                await self._sleep()
        finally:
            await self._session.close()

    async def _gauge(self) -> None:
        try:
            counts = await asyncio.to_thread(self.store.counts)
        except Exception:
            return
        for name in self.channels:
            self.metrics.alert_pending.labels(name).set(counts.get((name, "pending"), 0))

    async def _sleep(self) -> None:
        try:
            nxt = await asyncio.to_thread(self.store.next_due, list(self.channels))
        except Exception as exc:
            log.error("alert store unreadable; will retry", extra=kv(error=f"{type(exc).__name__}: {exc}"))
            nxt = None
        wait = 5.0 if nxt is None else min(max(nxt - self.clock(), 0.0), 5.0)
        if wait <= 0:
            return
        try:
            await asyncio.wait_for(self.wakeup.wait(), wait)
        except asyncio.TimeoutError:
            pass

    async def _drain(self, name: str) -> None:
        """Every due delivery of one channel, oldest first."""
        while not self._stopping:
            try:
                due = await asyncio.to_thread(self.store.due, self.clock(), [name], self.batch)
            except Exception as exc:
                log.error("alert store unreadable; will retry", extra=kv(error=f"{type(exc).__name__}: {exc}"))
                return
            if not due:
                return
            for delivery in due:
                if self._stopping:
                    return
                channel = self.channels.get(name)
                if channel is None:
                    return  # removed by a reload: its deliveries stay stored
                await self.attempt(channel, delivery)

    async def attempt(self, channel: Channel, delivery: Delivery) -> Decision:
        now = self.clock()
        request = channel.request(delivery.alert, now)
        status, retry_after, error = None, None, ""
        assert self._session is not None
        try:
            async with self._session.post(
                request.url,
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=channel.timeout),
            ) as resp:
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"), self.clock())
                await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            error = describe(exc)
        attempts = delivery.attempts + 1
        decision = decide(
            status, retry_after, attempts, delivery.first_at, self.clock(), self.policies[channel.name], self.rand()
        )
        await asyncio.to_thread(
            self.store.mark,
            delivery.alert["alert_id"],
            channel.name,
            decision.state,
            attempts,
            decision.next_at,
            "" if status is None else str(status),
            error or decision.reason,
            self.clock(),
        )
        outcome = {"delivered": "delivered", "pending": "retried", "dead": "dead_letter"}[decision.state]
        self.metrics.alert_deliveries.labels(channel.name, outcome).inc()
        fields = kv(
            channel=channel.name,
            alert_id=delivery.alert["alert_id"],
            attempt=attempts,
            status=status,
            reason=error or decision.reason,
        )
        if decision.state == DEAD:
            self.metrics.alert_dead_letters.labels(channel.name).inc()
            log.error("alert delivery dead-lettered", extra=fields)
        elif decision.state == "pending":
            log.warning("alert delivery failed; will retry", extra=fields)
        else:
            log.info("alert delivered", extra=fields)
        return decision
