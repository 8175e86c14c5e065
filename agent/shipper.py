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

import aiohttp
import orjson

from auditseal import crashpoints, wire
from auditseal.backoff import Backoff, parse_retry_after
from auditseal.errors import Rejected
from auditseal.event import parse_ts
from auditseal.logs import kv
from auditseal.segments import Position

from .batching import BatchPolicy
from .spool import EVENT, POSITIONS, Spool

log = logging.getLogger("auditseal.agent.shipper")

# Refusals that resending cannot fix: the batch is kept in dead-letter/ and skipped.
PERMANENT = {400, 403, 413, 422}


@dataclass(frozen=True)
class SendOutcome:
    acked_seq: int | None  # None: the batch was dead-lettered
    status: int
    rejected: tuple = ()  # events refused alone: ({"seq", "reason", "error"}, ...)


class Shipper:
    def __init__(self, spool: Spool, agent_id: str, key_id: str, key: bytes, collectors: list[str],
                 ssl_context: ssl.SSLContext, policy: BatchPolicy, backoff: Backoff, timeout: float,
                 dead_letter_dir: Path, metrics, spooled: asyncio.Event):
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
        connector = aiohttp.TCPConnector(ssl=self.ssl_context, limit=2)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            position = self.spool.start_position()
            backlog: deque[tuple[int, object]] = deque()  # (segment, record)
            self._commits: deque[tuple[int, bytes]] = deque()  # POSITIONS seen: (next_seq, payload)
            batch: list = []
            size = 0
            oldest = 0.0
            while True:
                self.spooled.clear()
                records = []
                if len(backlog) < self.policy.max_events:  # bounded read-ahead
                    records, position = self.spool.read(position)
                for record in records:
                    if record.kind == EVENT and record.seq > self.spool.acked_seq:
                        backlog.append((position.segment, record))
                    elif record.kind == POSITIONS:
                        self._commits.append((record.seq, record.payload))
                while backlog and self.policy.fits(len(batch), size, len(backlog[0][1].payload)):
                    if not batch:
                        oldest = time.monotonic()
                    item = backlog.popleft()
                    batch.append(item)
                    size += len(item[1].payload)
                if records and not self.policy.full(len(batch), size):
                    continue  # more may be waiting in the spool: fill the batch first
                due = self.policy.due_in(len(batch), size, time.monotonic() - oldest)
                if due is not None and (due == 0 or self._stopping.is_set()):
                    if not await self._ship(session, batch):
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

    async def _ship(self, session: aiohttp.ClientSession, batch: list) -> bool:
        first, last = batch[0][1].seq, batch[-1][1].seq
        body = wire.encode_body([record.payload for _, record in batch])
        self._observe_age(batch[0][1].payload)
        outcome = await self._send_with_retry(session, body, first, last, self.spool.gaps_before(last))
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
        resume = self._resume_point(acked)
        attempt = 0
        while True:
            try:
                await asyncio.to_thread(self.spool.acknowledge, acked, Position(segment, record.end), resume)
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

    def _resume_point(self, acked: int) -> dict | None:
        """The newest input positions whose events are all acknowledged (for the ledger)."""
        best = None
        while self._commits and self._commits[0][0] - 1 <= acked:
            best = self._commits.popleft()
        if best is None:
            return None
        return {"next_seq": best[0], "inputs": orjson.loads(best[1])["inputs"]}

    def _observe_age(self, payload: bytes) -> None:
        try:
            created = orjson.loads(payload)["event"]["created"]
            self.metrics.oldest_unacked.set(max(time.time() - parse_ts(created).timestamp(), 0))
        except (KeyError, ValueError, orjson.JSONDecodeError, Rejected):
            pass

    async def _send_with_retry(self, session, body: bytes, first: int, last: int,
                               gaps: list[tuple[int, int]]) -> SendOutcome | None:
        attempt = 0
        while not self._stopping.is_set():
            attempt += 1
            url = self.collectors[self._collector_index % len(self.collectors)].rstrip("/") + wire.PATH
            headers = wire.build_headers(agent=self.agent_id, key_id=self.key_id, key=self._key,
                                         timestamp=int(time.time()), first_seq=first, last_seq=last,
                                         body=body, gaps=gaps)
            retry_after = None
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    text = await resp.read()
                    status = resp.status
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                self.metrics.batches.labels("connection_error").inc()
                log.warning("collector unreachable", extra=kv(url=url, error=str(exc) or type(exc).__name__,
                                                             attempt=attempt))
                self._collector_index += 1  # fail over to the next collector
            else:
                if status == 200:
                    self.metrics.batches.labels("ok").inc()
                    answer = orjson.loads(text)
                    acked = int(answer["acked_seq"])
                    if acked >= last:
                        return SendOutcome(acked, status, tuple(answer.get("rejected") or ()))
                    log.error("collector acknowledged less than the batch; resending",
                              extra=kv(url=url, acked_seq=acked, last_seq=last))
                reason = _error_text(text)
                self.metrics.batches.labels(str(status)).inc()
                if status in PERMANENT:
                    log.error("collector refused batch for good; dead-lettered",
                              extra=kv(url=url, status=status, first_seq=first, last_seq=last, reason=reason))
                    return SendOutcome(None, status)
                log.warning("collector refused batch; will retry",
                            extra=kv(url=url, status=status, first_seq=first, reason=reason, attempt=attempt))
                if status >= 500 and status != 503:
                    self._collector_index += 1
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
            lines.append(orjson.dumps({"seq": seq, "reason": reason, "error": str(item.get("error", ""))[:1000],
                                       "event": by_seq.get(seq, b"").decode("utf-8", "replace")}) + b"\n")
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


def _error_text(body: bytes) -> str:
    try:
        return str(orjson.loads(body).get("error", ""))[:500]
    except (orjson.JSONDecodeError, AttributeError):
        return body[:200].decode("utf-8", "replace")
