"""Spool → collectors: batches over mTLS, lz4 + HMAC, deleted only once acked.

Up to ``pipelining`` batches are in flight, each on its own connection, once the collector has
said it holds a batch until the one it follows is stored (``wire.H_FOLLOWS``): the next batch
travels while the collector stores the one before, so a round trip is not idle time. Answers
are settled oldest first; a batch sent behind another that is not taken (too early, no
answer, any refusal) is resent alone, retried as usual, once it is the oldest.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import lz4.frame
import orjson

from auditseal import crashpoints
from auditseal.backoff import Backoff, parse_retry_after
from auditseal.errors import Rejected
from auditseal.formats import wire
from auditseal.formats.event import parse_ts
from auditseal.formats.records import Record
from auditseal.logs import kv
from auditseal.storage.segments import Position

from .batching import BatchPolicy
from .delivery import ACK, DEAD_LETTER, FAILOVER, Decision, classify
from .spool import EVENT, Spool
from .transport import CollectorLink, LinkError

log = logging.getLogger("auditseal.agent.shipper")


@dataclass(frozen=True)
class SendOutcome:
    acked_seq: int | None  # None: the batch was dead-lettered
    status: int
    rejected: tuple = ()  # events refused alone: ({"seq", "reason", "error"}, ...)


@dataclass(eq=False)
class InFlight:
    """A batch sent and not yet settled: its body only (the events, compressed), not its
    records, so each batch in flight holds about a third of its size."""

    first: int
    last: int
    count: int
    end: Position  # the spool position just past its last record
    body: bytes  # lz4 NDJSON, as sent
    link: CollectorLink  # its own connection while in flight
    follows: int | None  # sent behind the batch ending at this sequence (one attempt)
    task: asyncio.Task = field(init=False)  # → SendOutcome, or None: not taken (or stopped)

    def payloads(self) -> list[bytes]:
        """The events as sent (for dead letters and events refused alone: rare)."""
        return lz4.frame.decompress(self.body).split(b"\n")[:-1]


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
        pipelining: int = 1,
    ):
        self.spool = spool
        self.pipelining = pipelining  # batches in flight at most (1: wait for each answer)
        self._pipelining_url: str | None = None  # the collector that said it holds batches in order
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
        links = [CollectorLink(self.ssl_context, self.timeout) for _ in range(self.pipelining)]
        inflight: deque[InFlight] = deque()  # sent, oldest first; settled in that order
        try:
            position = self.spool.start_position()
            backlog: deque[tuple[int, Record]] = deque()  # (segment, record)
            backlog_bytes = 0
            batch: list = []
            size = 0
            oldest = 0.0
            while True:
                while inflight and inflight[0].task.done():
                    head = inflight[0]
                    outcome = head.task.result()
                    if head.follows is not None and outcome is None:
                        # Sent behind a batch then unanswered: refused (too early, most
                        # likely) or lost. It leads now: resent alone, retried until answered.
                        head.follows = None
                        head.task = asyncio.create_task(self._send_with_retry(head.link, head))
                        continue
                    if outcome is None:
                        return  # stopped while retrying; unacked events stay spooled
                    inflight.popleft()
                    links.append(head.link)
                    self.metrics.in_flight.set(len(inflight))
                    if not await self._settle(head, outcome):
                        return
                if self._stopping.is_set():  # nothing new goes out; the answers awaited are settled
                    if not inflight:
                        return
                    await asyncio.wait([inflight[0].task])
                    continue
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
                if due == 0:
                    if not inflight or (links and self._may_pipeline()):
                        inflight.append(self._send(links.pop(), batch, inflight[-1].last if inflight else None))
                        self.metrics.in_flight.set(len(inflight))
                        batch, size = [], 0
                        continue
                    await asyncio.wait([inflight[0].task])  # the window is full: the oldest first
                    continue
                if drain and not batch and not backlog and not inflight:
                    return
                await self._idle(due if due is not None else 1.0, inflight[0].task if inflight else None)
        finally:
            for sent in inflight:
                sent.task.cancel()
            await asyncio.gather(*(sent.task for sent in inflight), return_exceptions=True)
            for link in [*links, *(sent.link for sent in inflight)]:
                link.close()
            self.metrics.in_flight.set(0)

    async def _idle(self, timeout: float, oldest: asyncio.Task | None) -> None:
        """Until more is spooled, the oldest batch in flight is answered, or ``timeout``."""
        spooled = asyncio.ensure_future(self.spooled.wait())
        try:
            waiters = [spooled] if oldest is None else [spooled, oldest]
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            spooled.cancel()

    def _may_pipeline(self) -> bool:
        """Another batch may go before the ones in flight are answered: the collector now
        tried said it holds a batch until the one it follows is stored."""
        return self._pipelining_url == self._url()

    def _url(self) -> str:
        return self.collectors[self._collector_index % len(self.collectors)].rstrip("/") + wire.PATH

    def _send(self, link: CollectorLink, batch: list, follows: int | None) -> InFlight:
        """Start sending ``batch``: alone (retried until answered), or behind the batch ending
        at ``follows`` (one attempt; resent alone if it fails, once that batch is settled)."""
        (_, head), (segment, tail) = batch[0], batch[-1]
        body = wire.encode_body([record.payload for _, record in batch])
        sent = InFlight(head.seq, tail.seq, len(batch), Position(segment, tail.end), body, link, follows)
        self._observe_age(head.payload)
        sender = self._send_with_retry if follows is None else self._send_behind
        sent.task = asyncio.create_task(sender(link, sent))
        return sent

    async def _settle(self, sent: InFlight, outcome: SendOutcome) -> bool:
        """Record the collector's answer to ``sent`` (the oldest batch in flight): dead letters,
        events refused alone, the acknowledgement. False: stopped before it was recorded."""
        crashpoints.hit("after_send")  # acknowledged by the collector, not yet recorded here
        if outcome.acked_seq is None:
            self._dead_letter(sent, outcome.status)
            # Declared in the next batch, so the collector records a declared gap.
            self.spool.declare_lost(sent.first, sent.last)
        if outcome.rejected:
            self._record_rejected(sent, outcome.rejected)
        acked = sent.last if outcome.acked_seq is None else outcome.acked_seq
        attempt = 0
        while True:
            try:
                await asyncio.to_thread(self.spool.acknowledge, acked, sent.end)
                break
            except OSError as exc:
                # Disk full: the collector holds the batch; keep trying to record that.
                attempt += 1
                log.error("cannot record the acknowledgement; retrying", extra=kv(error=str(exc)))
                if self._stopping.is_set():
                    return False
                await asyncio.sleep(self.backoff.delay(attempt))
        self.metrics.shipped.inc(sent.count)
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

    async def _post(self, link: CollectorLink, sent: InFlight) -> tuple[str, int | None, Decision, float | None]:
        """One attempt: (url, status or None for no answer, the decision, Retry-After)."""
        url = self._url()
        headers = wire.build_headers(
            agent=self.agent_id,
            key_id=self.key_id,
            key=self._key,
            timestamp=int(time.time()),
            first_seq=sent.first,
            last_seq=sent.last,
            body=sent.body,
            gaps=self.spool.gaps_before(sent.last),
            follows=sent.follows,
        )
        retry_after, status, text = None, None, b""
        try:
            answer = await asyncio.to_thread(link.post, url, sent.body, headers)
            text, status, retry_after = answer.body, answer.status, parse_retry_after(answer.retry_after)
        except LinkError as exc:
            text = str(exc).encode()
        decision = classify(status, text, sent.last)
        self.metrics.batches.labels(
            "connection_error" if status is None else "ok" if decision.action == ACK else str(status)
        ).inc()
        if decision.action == ACK:
            # Whether this collector may be sent batches behind unanswered ones.
            self._pipelining_url = url if decision.pipelining else None
        return url, status, decision, retry_after

    async def _send_behind(self, link: CollectorLink, sent: InFlight) -> SendOutcome | None:
        """One attempt for a batch sent behind others; None unless the collector took it."""
        url, status, decision, _ = await self._post(link, sent)
        if decision.action == ACK:
            return SendOutcome(decision.acked_seq, status or 200, decision.rejected)
        log.debug(
            "batch sent behind another not taken; resent once that one is answered",
            extra=kv(url=url, status=status, first_seq=sent.first, follows=sent.follows, reason=decision.reason),
        )
        return None

    async def _send_with_retry(self, link: CollectorLink, sent: InFlight) -> SendOutcome | None:
        first, last = sent.first, sent.last
        attempt = 0
        while not self._stopping.is_set():
            attempt += 1
            url, status, decision, retry_after = await self._post(link, sent)
            if decision.action == ACK:
                return SendOutcome(decision.acked_seq, status or 200, decision.rejected)
            if decision.action == DEAD_LETTER:
                log.error(
                    "collector refused batch for good; dead-lettered",
                    extra=kv(url=url, status=status, first_seq=first, last_seq=last, reason=decision.reason),
                )
                return SendOutcome(None, status or 0)
            if status is None:
                log.warning("collector unreachable", extra=kv(url=url, error=decision.reason, attempt=attempt))
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

    def _record_rejected(self, sent: InFlight, rejected: tuple) -> None:
        """Events the collector refused alone (an ``event_rejected`` record is stored in their
        place): kept in ``dead-letter/rejected.ndjson`` with the collector's reason."""
        by_seq = {_sequence(payload): payload for payload in sent.payloads()}
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

    def _dead_letter(self, sent: InFlight, status: int) -> None:
        self.dead_letter_dir.mkdir(parents=True, exist_ok=True)
        path = self.dead_letter_dir / f"batch-{sent.first}-{sent.last}.ndjson"
        with open(path, "wb") as f:
            f.write(lz4.frame.decompress(sent.body))
            f.flush()
            os.fsync(f.fileno())
        self.metrics.dead_batches.labels(str(status)).inc()


def _sequence(payload: bytes) -> int | None:
    try:
        return orjson.loads(payload)["event"]["sequence"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
