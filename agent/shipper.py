"""Spool → collectors: batches over mTLS, lz4 + HMAC, one in flight, deleted only once acked."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import orjson

from auditseal import crashpoints
from auditseal.backoff import Backoff, parse_retry_after
from auditseal.errors import Rejected
from auditseal.formats import wire
from auditseal.formats.event import parse_ts
from auditseal.logs import kv
from auditseal.storage.segments import Position

from .batching import BatchPolicy
from .delivery import ACK, DEAD_LETTER, FAILOVER, classify
from .spool import EVENT, Spool
from .transport import CollectorLink, LinkError

log = logging.getLogger("auditseal.agent.shipper")


@dataclass(frozen=True)
class SendOutcome:
    acked_seq: int | None  # None: the batch was dead-lettered
    status: int
    rejected: tuple = ()  # events refused alone: ({"seq", "reason", "error"}, ...)


class Shipper:
    def __init__(
        self,
        spool: Spool,
        agent_id: str,
        key_id: str,
        key: bytes,
        collectors: list[str],
        ssl_context: ssl.SSLContext,
        policy: BatchPolicy,
        backoff: Backoff,
        timeout: float,
        dead_letter_dir: Path,
        metrics,
        spooled: asyncio.Event,
    ):
        self.spool = spool
        self.agent_id = agent_id
        self.key_id = key_id
        self._key = key
        self.collectors = collectors
        self.ssl_context = ssl_context
        self.policy = policy
        self.backoff = backoff
        self.timeout = timeout
        self.dead_letter_dir = dead_letter_dir
        self.metrics = metrics
        self.spooled = spooled
        self._stopping = asyncio.Event()
        self._collector_index = 0
        self.last_ack_at: float | None = None

    def stop(self) -> None:
        self._stopping.set()
        self.spooled.set()

    async def run(self, drain: bool = False) -> None:
        """Ship until stopped; with ``drain``, return once the spool is fully acknowledged."""
        link = CollectorLink(self.ssl_context, self.timeout)
        try:
            position = self.spool.start_position()
            backlog: deque[tuple[int, object]] = deque()  # (segment, record)
            backlog_bytes = 0
            batch: list = []
            size = 0
            oldest = 0.0
            while True:
                self.spooled.clear()
                records = []
                # Read-ahead bounded by bytes: about one batch beyond the one being filled, read
                # a quarter at a time (a read holds its bytes twice while they are decoded).
                if len(backlog) < self.policy.max_events and backlog_bytes < self.policy.max_bytes:
                    records, position = self.spool.read(position, max(self.policy.max_bytes // 4, 256 * 1024))
                for record in records:
                    if record.kind == EVENT and record.seq > self.spool.acked_seq:
                        backlog.append((position.segment, record))
                        backlog_bytes += len(record.payload)
                while backlog and self.policy.fits(len(batch), size, len(backlog[0][1].payload)):
                    if not batch:
                        oldest = time.monotonic()
                    item = backlog.popleft()
                    batch.append(item)
                    size += len(item[1].payload)
                    backlog_bytes -= len(item[1].payload)
                next_size = len(backlog[0][1].payload) if backlog else None
                if records and not self.policy.ready(len(batch), size, next_size):
                    continue  # more may be waiting in the spool: fill the batch first
                due = self.policy.due_in(len(batch), size, time.monotonic() - oldest, next_size)
                if due is not None and (due == 0 or self._stopping.is_set()):
                    if not await self._ship(link, batch):
                        return  # stopped while retrying; unacked events stay spooled
                    batch, size = [], 0
                    continue
                if self._stopping.is_set() and not batch and not backlog:
                    return
                if drain and not batch and not backlog:
                    return
                try:
                    await asyncio.wait_for(self.spooled.wait(), due if due is not None else 1.0)
                except asyncio.TimeoutError:
                    pass
        finally:
            link.close()

    async def _ship(self, link: CollectorLink, batch: list) -> bool:
        first, last = batch[0][1].seq, batch[-1][1].seq
        body = wire.encode_body([record.payload for _, record in batch])
        self._observe_age(batch[0][1].payload)
        outcome = await self._send_with_retry(link, body, first, last, self.spool.gaps_before(last))
        if outcome is None:
            return False
        crashpoints.hit("after_send")  # acknowledged by the collector, not yet recorded here
        if outcome.acked_seq is None:
            self._dead_letter(batch, outcome.status)
            # Declared in the next batch, so the collector records a declared gap.
            self.spool.declare_lost(first, last)
        if outcome.rejected:
            self._record_rejected(batch, outcome.rejected)
        acked = last if outcome.acked_seq is None else outcome.acked_seq
        segment, record = batch[-1]
        attempt = 0
        while True:
            try:
                await asyncio.to_thread(self.spool.acknowledge, acked, Position(segment, record.end))
                break
            except OSError as exc:
                # Disk full: the collector holds the batch; keep trying to record that.
                attempt += 1
                log.error("cannot record the acknowledgement; retrying", extra=kv(error=str(exc)))
                if self._stopping.is_set():
                    return False
                await asyncio.sleep(self.backoff.delay(attempt))
        self.metrics.shipped.inc(len(batch))
        self.metrics.unacked.set(max(self.spool.next_seq - 1 - self.spool.acked_seq, 0))
        self.metrics.spool_segments.set(self.spool.segment_count())
        self.metrics.spool_bytes.set(self.spool.size_bytes())
        self.last_ack_at = time.time()
        self.metrics.last_ack.set(self.last_ack_at)
        return True

    def _observe_age(self, payload: bytes) -> None:
        try:
            created = orjson.loads(payload)["event"]["created"]
            self.metrics.oldest_unacked.set(max(time.time() - parse_ts(created).timestamp(), 0))
        except (KeyError, ValueError, orjson.JSONDecodeError, Rejected):
            pass

    async def _send_with_retry(
        self, link, body: bytes, first: int, last: int, gaps: list[tuple[int, int]]
    ) -> SendOutcome | None:
        attempt = 0
        while not self._stopping.is_set():
            attempt += 1
            url = self.collectors[self._collector_index % len(self.collectors)].rstrip("/") + wire.PATH
            headers = wire.build_headers(
                agent=self.agent_id,
                key_id=self.key_id,
                key=self._key,
                timestamp=int(time.time()),
                first_seq=first,
                last_seq=last,
                body=body,
                gaps=gaps,
            )
            retry_after, status, text = None, None, b""
            try:
                answer = await asyncio.to_thread(link.post, url, body, headers)
                text, status, retry_after = answer.body, answer.status, parse_retry_after(answer.retry_after)
            except LinkError as exc:
                text = str(exc).encode()
            decision = classify(status, text, last)
            self.metrics.batches.labels(
                "connection_error" if status is None else "ok" if decision.action == ACK else str(status)
            ).inc()
            if decision.action == ACK:
                return SendOutcome(decision.acked_seq, status, decision.rejected)
            if decision.action == DEAD_LETTER:
                log.error(
                    "collector refused batch for good; dead-lettered",
                    extra=kv(url=url, status=status, first_seq=first, last_seq=last, reason=decision.reason),
                )
                return SendOutcome(None, status)
            if status is None:
                log.warning("collector unreachable", extra=kv(url=url, error=text.decode(), attempt=attempt))
            else:
                log.warning(
                    "collector refused batch; will retry",
                    extra=kv(url=url, status=status, first_seq=first, reason=decision.reason, attempt=attempt),
                )
            if decision.action == FAILOVER:
                self._collector_index += 1  # the next collector
            delay = self.backoff.delay(attempt, retry_after)
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
            except asyncio.TimeoutError:
                pass
        return None

    def _record_rejected(self, batch: list, rejected: tuple) -> None:
        """Events the collector refused alone (an ``event_rejected`` record is stored in their
        place): kept in ``dead-letter/rejected.ndjson`` with the collector's reason."""
        by_seq = {record.seq: record.payload for _, record in batch}
        lines = []
        for item in rejected:
            seq, reason = item.get("seq"), str(item.get("reason", "unknown"))[:64]
            lines.append(
                orjson.dumps(
                    {
                        "seq": seq,
                        "reason": reason,
                        "error": str(item.get("error", ""))[:1000],
                        "event": by_seq.get(seq, b"").decode("utf-8", "replace"),
                    }
                )
                + b"\n"
            )
            self.metrics.rejected_events.labels(reason).inc()
            log.error("collector refused an event", extra=kv(seq=seq, reason=reason, error=item.get("error")))
        self.dead_letter_dir.mkdir(parents=True, exist_ok=True)
        with open(self.dead_letter_dir / "rejected.ndjson", "ab") as f:
            f.write(b"".join(lines))
            f.flush()
            os.fsync(f.fileno())

    def _dead_letter(self, batch: list, status: int) -> None:
        self.dead_letter_dir.mkdir(parents=True, exist_ok=True)
        first, last = batch[0][1].seq, batch[-1][1].seq
        path = self.dead_letter_dir / f"batch-{first}-{last}.ndjson"
        with open(path, "wb") as f:
            f.write(b"".join(record.payload + b"\n" for _, record in batch))
            f.flush()
            os.fsync(f.fileno())
        self.metrics.dead_batches.labels(str(status)).inc()
