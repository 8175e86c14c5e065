"""The sinks lease: exactly one collector of a NATS-journal fleet runs the sinks (index,
alert engine, sealer, integrity check, alert delivery) at a time.

The lease is a key in a replicated JetStream key-value bucket whose entries expire
``ttl`` seconds after their last write. ``acquire`` creates the key (refused while another
holder's entry lives); the holder renews it every ``ttl / 3`` with compare-and-set on the
revision it last wrote, so a holder that was cut off and came back cannot renew over its
successor. The revision at acquisition is the fencing token (logged, in ``/readyz`` and the
``lease_holder`` metric). A holder counts its lease as lost as soon as a renewal fails or
``ttl - margin`` has passed since the last renewal it sent — before the server lets anyone
else take it, since the server measures from when it received that renewal.
"""

from __future__ import annotations

import asyncio
import logging
import time

from nats.errors import Error as NatsError
from nats.js import api
from nats.js.errors import APIError, KeyWrongLastSequenceError

from auditseal.logs import kv

log = logging.getLogger("auditseal.collector.lease")
KEY = "sinks"


class SinksLease:
    def __init__(self, js, bucket: str, holder: str, ttl: float, replicas: int):
        self.js = js
        self.bucket_name = bucket
        self.holder = holder
        self.ttl = ttl
        self.margin = min(1.0, ttl / 4)
        self.replicas = replicas
        self.kv = None
        self.revision: int | None = None  # the last write of ours; None: not held
        self.token: int | None = None  # the fencing token of the current holding
        self._renewed_at = 0.0

    async def open(self) -> None:
        self.kv = await self.js.create_key_value(
            bucket=self.bucket_name, history=1, ttl=self.ttl, replicas=self.replicas, storage=api.StorageType.FILE
        )

    def held(self) -> bool:
        return self.revision is not None and time.monotonic() - self._renewed_at < self.ttl - self.margin

    async def acquire(self) -> bool:
        sent = time.monotonic()
        try:
            self.revision = await self.kv.create(KEY, self.holder.encode())
        except KeyWrongLastSequenceError:
            return False  # another collector holds it
        except (NatsError, APIError, asyncio.TimeoutError):
            return False
        self.token, self._renewed_at = self.revision, sent
        log.info("took the sinks lease", extra=kv(holder=self.holder, token=self.token))
        return True

    async def renew(self) -> bool:
        if self.revision is None:
            return False
        sent = time.monotonic()
        try:
            self.revision = await asyncio.wait_for(
                self.kv.update(KEY, self.holder.encode(), last=self.revision), self.ttl / 3
            )
        except KeyWrongLastSequenceError:
            log.error("the sinks lease was taken over; stopping the sinks", extra=kv(token=self.token))
            self.revision = None
            return False
        except (NatsError, APIError, asyncio.TimeoutError) as exc:
            if not self.held():
                log.error("could not renew the sinks lease in time; stopping the sinks", extra=kv(error=str(exc)))
                self.revision = None
                return False
            return True  # try again at the next beat, still inside the lease
        self._renewed_at = sent
        return True

    async def holder_now(self) -> str | None:
        try:
            entry = await self.kv.get(KEY)
            return entry.value.decode() if entry.value else None
        except Exception:
            return None

    async def give_up(self) -> None:
        if self.revision is None:
            return
        try:
            await self.kv.delete(KEY, last=self.revision)
        except Exception:
            pass  # it lapses by itself
        self.revision = None
