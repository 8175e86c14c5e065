"""Leases of a NATS-journal fleet: exactly one collector at a time holds each role — the
``sinks`` (index, alert engine, integrity check, alert delivery) and ``sealer-p<k>`` (the
only writer of journal partition k's Merkle logs).

The lease is a key in a replicated JetStream key-value bucket whose entries expire
``ttl`` seconds after their last write. ``acquire`` creates the key (refused while another
holder's entry lives); the holder renews it every ``ttl / 3`` with compare-and-set on the
revision it last wrote, so a holder that was cut off and came back cannot renew over its
successor. The revision at acquisition is the fencing token (logged, in ``/readyz`` and the
``lease_holder`` metric). Every key lives in one bucket, which also holds each live
collector's ``member.<id>`` entry (rewritten every beat) so collectors can share the roles
out. A holder counts its lease as lost as soon as a renewal fails or
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

from .nats_format import escape_token

log = logging.getLogger("auditseal.collector.lease")
MEMBER = "member."


async def open_bucket(js, bucket: str, ttl: float, replicas: int):
    return await js.create_key_value(bucket=bucket, history=1, ttl=ttl, replicas=replicas, storage=api.StorageType.FILE)


async def announce(bucket, member: str) -> None:
    """This collector is alive (its entry lapses ``ttl`` after the last call)."""
    try:
        await bucket.put(MEMBER + escape_token(member), b"1")
    except (NatsError, APIError, asyncio.TimeoutError):
        pass


async def members(bucket) -> int:
    """Collectors alive now (at least 1: the caller)."""
    try:
        return max(1, sum(1 for k in await bucket.keys() if k.startswith(MEMBER)))
    except Exception:  # no keys yet, or the bucket unreachable: count only ourselves
        return 1


class Lease:
    def __init__(self, bucket, key: str, holder: str, ttl: float):
        self.kv = bucket
        self.key = key
        self.holder = holder
        self.ttl = ttl
        self.margin = min(1.0, ttl / 4)
        self.revision: int | None = None  # the last write of ours; None: not held
        self.token: int | None = None  # the fencing token of the current holding
        self._renewed_at = 0.0

    def held(self) -> bool:
        return self.revision is not None and time.monotonic() - self._renewed_at < self.ttl - self.margin

    async def acquire(self) -> bool:
        sent = time.monotonic()
        try:
            self.revision = await self.kv.create(self.key, self.holder.encode())
        except KeyWrongLastSequenceError:
            return False  # another collector holds it
        except (NatsError, APIError, asyncio.TimeoutError):
            return False
        self.token, self._renewed_at = self.revision, sent
        log.info("took a lease", extra=kv(lease=self.key, holder=self.holder, token=self.token))
        return True

    async def renew(self) -> bool:
        if self.revision is None:
            return False
        sent = time.monotonic()
        try:
            self.revision = await asyncio.wait_for(
                self.kv.update(self.key, self.holder.encode(), last=self.revision), self.ttl / 3
            )
        except KeyWrongLastSequenceError:
            log.error("a lease was taken over; stopping its work", extra=kv(lease=self.key, token=self.token))
            self.revision = None
            return False
        except (NatsError, APIError, asyncio.TimeoutError) as exc:
            if not self.held():
                log.error(
                    "could not renew a lease in time; stopping its work", extra=kv(lease=self.key, error=str(exc))
                )
                self.revision = None
                return False
            return True  # try again at the next beat, still inside the lease
        self._renewed_at = sent
        return True

    async def holder_now(self) -> str | None:
        try:
            entry = await self.kv.get(self.key)
            return entry.value.decode() if entry.value else None
        except Exception:
            return None

    async def give_up(self) -> None:
        if self.revision is None:
            return
        try:
            await self.kv.delete(self.key, last=self.revision)
        except Exception:
            pass  # it lapses by itself
        self.revision = None
