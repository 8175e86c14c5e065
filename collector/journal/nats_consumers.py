"""The reading side of the NATS JetStream journal (``nats``): every sink a durable pull
consumer started at the sink's own cursor (ack-all; a partition's sealer filtered to its
partition's subjects), or — for a sink whose workers run on every collector — one consumer they
share (explicit acks). The collector holding the sinks lease purges what every consumer of the
fleet has acknowledged, after keeping the marks of the agents in it.

A message that is not a version-1 journal message (written by something else with publish
rights on the journal's subjects, or damaged) is set aside: counted, logged, its bytes kept in
``<data_dir>/quarantine/journal.ndjson``, and skipped — it was never acknowledged to an agent.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time

import orjson
from nats.errors import Error as NatsError
from nats.js import api
from nats.js.errors import APIError, NotFoundError

from auditseal.logs import kv

from . import nats_format as fmt
from .base import Cursor, Entry

KIND = "nats"
log = logging.getLogger("auditseal.collector.journal")


def seq_cursor(seq: int, index: int = 0) -> Cursor:
    return Cursor(KIND, (seq, index))


def seq_of(cursor: Cursor) -> tuple[int, int]:
    if cursor.journal != KIND or len(cursor.at) != 2:
        raise ValueError(f"cursor {cursor.encode()} is not a NATS journal's (journal type changed?)")
    return cursor.at[0], cursor.at[1]


class _Reader:
    """One sink's durable pull consumer."""

    def __init__(self, name: str, subjects: str):
        self.name = name
        self.subjects = subjects  # the consumer's filter
        self.sub = None
        self.next_seq: int | None = None  # what the subscription delivers next
        self.last_msg = None  # the last message fetched (ack-all acks up to it)
        self.delivered = 0  # the consumer's delivery sequence last received (0: just subscribed)
        self.last_stream_seq = 0  # stream sequence of the last message received
        self.released = 0  # stream sequence the sink has durably passed
        self.pending = 0  # messages behind, from the consumer's info


class Consumers:
    """The reading side of ``NatsJournal``: each sink's durable consumer, the consumers
    shared by workers on every collector, acknowledgements and the fleet's purge."""

    # -- readers ------------------------------------------------------------------------
    def _durable(self, name: str) -> str:
        return f"{self.stream}_{name}"

    def register(self, consumer: str, cursor: Cursor) -> None:
        self._readers[consumer].released = seq_of(cursor)[0]

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        self._subscribers.append(event)
        return event

    def start(self) -> Cursor:
        return seq_cursor(max(self._info[0], 1))

    @property
    def end(self) -> Cursor:
        return seq_cursor(self._info[1] + 1)

    async def _subscribe(self, reader: _Reader, seq: int) -> None:
        """(Re)start the sink's durable consumer at ``seq`` (its durable cursor)."""
        if reader.sub is not None:
            try:
                await reader.sub.unsubscribe()
            except NatsError:
                pass
            reader.sub = None
        durable = self._durable(reader.name)
        try:
            await self.js.delete_consumer(self.stream, durable)
        except NotFoundError:
            pass
        config = api.ConsumerConfig(
            durable_name=durable,
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(seq, 1),
            ack_policy=api.AckPolicy.ALL,
            ack_wait=3600,
            max_ack_pending=-1,
            filter_subject=reader.subjects,
            num_replicas=self.cfg.replicas,
        )
        reader.sub = await self.js.pull_subscribe(reader.subjects, durable=durable, stream=self.stream, config=config)
        reader.next_seq = seq
        reader.delivered = reader.last_stream_seq = 0
        log.info("journal consumer started at the sink's cursor", extra=kv(consumer=reader.name, stream_seq=seq))

    def reader(self, consumer: str, partition: int | None = None) -> "NatsReader":
        """Sink ``consumer``'s view; ``partition``: only that partition's subjects."""
        subjects = f"{self.prefix}.>" if partition is None else f"{self.prefix}.p{partition}.>"
        return NatsReader(self, self._readers.setdefault(consumer, _Reader(consumer, subjects)))

    async def _fetch(self, reader: _Reader, cursor: Cursor) -> tuple[list[Entry], Cursor]:
        seq, index = seq_of(cursor)
        try:
            if reader.sub is None or reader.next_seq != seq:
                await self._subscribe(reader, seq)
            try:
                msgs = await reader.sub.fetch(self.cfg.fetch_batch, timeout=self.cfg.fetch_wait)
            except asyncio.TimeoutError:  # nothing new
                return [], cursor
        except (NatsError, APIError, asyncio.TimeoutError) as exc:
            reader.sub = None
            raise self._unavailable(exc) from None
        except asyncio.CancelledError:  # a stop mid-call: subscribe afresh at the next read
            reader.next_seq = None
            raise
        entries: list[Entry] = []
        nxt = cursor
        whole_stream = reader.subjects == f"{self.prefix}.>"
        for msg in msgs:
            stream_seq, consumer_seq = msg.metadata.sequence.stream, msg.metadata.sequence.consumer
            skipped = fmt.skipped_delivery(
                reader.delivered, consumer_seq, reader.last_stream_seq, stream_seq, whole_stream
            )
            if skipped is not None:  # read again from what was taken: nothing passed unread
                log.warning(
                    "journal consumer skipped messages; reading again from the sink's cursor",
                    extra=kv(consumer=reader.name, reason=skipped, cursor=nxt.encode()),
                )
                if self.skipped_deliveries is not None:
                    self.skipped_deliveries.inc()
                reader.next_seq = None
                return entries, nxt
            lost = fmt.purged_unread(seq, stream_seq, whole_stream) if not reader.delivered else None
            if lost is not None:  # nothing to read again: said loudly, counted
                log.error("journal lost messages a sink had not read", extra=kv(consumer=reader.name, reason=lost))
                if self.purged_unread is not None:
                    self.purged_unread.inc()
            reader.delivered = max(reader.delivered, consumer_seq)
            reader.last_stream_seq = max(reader.last_stream_seq, stream_seq)
            if stream_seq < seq:
                continue
            nxt = seq_cursor(stream_seq + 1)
            reader.last_msg = msg
            payloads = self._payloads(msg, stream_seq)
            start = index if stream_seq == seq else 0
            entries += [Entry(seq_cursor(stream_seq, i), p) for i, p in enumerate(payloads) if i >= start]
        reader.next_seq = nxt.at[0]
        return entries, nxt

    def _payloads(self, msg, stream_seq: int) -> list[bytes]:
        """A message's journal records; none for one that is not a journal message (set aside)."""
        try:
            agent, mark = fmt.read_headers(msg.headers)
            payloads = fmt.decode_message(msg.data)
        except fmt.FormatError as exc:
            self._set_aside(msg, stream_seq, str(exc))
            return []
        if self._seen.get(agent, (0, 0))[0] < stream_seq:
            self._seen[agent] = (stream_seq, mark)
        return payloads

    def _set_aside(self, msg, stream_seq: int, reason: str) -> None:
        if stream_seq in self._set_aside_seqs:
            return  # another of this collector's consumers met it first
        self._set_aside_seqs.add(stream_seq)
        if self.foreign_messages is not None:
            self.foreign_messages.inc()
        log.error(
            "journal message is not a collector's; set aside and skipped",
            extra=kv(stream_seq=stream_seq, subject=msg.subject, reason=reason, bytes=len(msg.data or b"")),
        )
        if self.quarantine_dir is None:
            return
        entry = {
            "kind": "journal_message",
            "at": time.time(),
            "stream": self.stream,
            "stream_seq": stream_seq,
            "subject": msg.subject,
            "reason": reason,
            "headers": dict(msg.headers or {}),
            "data_b64": base64.b64encode(msg.data or b"").decode(),
        }
        try:
            self.quarantine_dir.mkdir(parents=True, exist_ok=True)
            with open(self.quarantine_dir / "journal.ndjson", "ab") as f:
                f.write(orjson.dumps(entry) + b"\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            log.error("cannot keep a set-aside journal message", extra=kv(error=str(exc), stream_seq=stream_seq))

    # -- shared consumers (workers on every collector) ------------------------------------
    async def shared_fetch(self, name: str) -> list[tuple[object, list[Entry]]]:
        """Messages for one of the workers that share sink ``name``'s consumer (every collector
        runs one; each message goes to one of them, acknowledged one by one with ``settle``),
        with their entries. An empty list when nothing came within ``fetch_wait``."""
        try:
            sub = self._shared.get(name) or await self._shared_subscribe(name)
            try:
                msgs = await sub.fetch(self.cfg.fetch_batch, timeout=self.cfg.fetch_wait)
            except asyncio.TimeoutError:
                return []
        except (NatsError, APIError, asyncio.TimeoutError) as exc:
            self._shared.pop(name, None)
            raise self._unavailable(exc) from None
        out = []
        for msg in msgs:
            stream_seq = msg.metadata.sequence.stream
            payloads = self._payloads(msg, stream_seq)
            out.append((msg, [Entry(seq_cursor(stream_seq, i), p) for i, p in enumerate(payloads)]))
        return out

    async def _shared_subscribe(self, name: str):
        durable = self._durable(name)
        config = api.ConsumerConfig(
            durable_name=durable,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=self.cfg.shared_ack_wait,
            max_ack_pending=self.cfg.fetch_batch * 16,
            max_deliver=-1,
            filter_subject=f"{self.prefix}.>",
            num_replicas=self.cfg.replicas,
        )
        try:
            info = await self.js.consumer_info(self.stream, durable)
            if info.config.ack_policy != api.AckPolicy.EXPLICIT:
                # The one-worker consumer of an earlier setup: go on from what it acknowledged.
                await self.js.delete_consumer(self.stream, durable)
                config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
                config.opt_start_seq = (info.ack_floor.stream_seq or 0) + 1
                await self.js.add_consumer(self.stream, config)
        except NotFoundError:
            await self.js.add_consumer(self.stream, config)  # another collector's identical add is fine
        sub = await self.js.pull_subscribe_bind(durable=durable, stream=self.stream)
        self._shared[name] = sub
        return sub

    async def settle(self, msgs: list, stored: bool, retry_in: float = 1.0) -> None:
        """Acknowledge what a shared worker stored; hand back (redelivered after ``retry_in``,
        perhaps to another collector) what it could not."""
        try:
            for msg in msgs:
                await (msg.ack() if stored else msg.nak(delay=retry_in))
        except NatsError as exc:  # unacknowledged: redelivered after the ack wait, stored idempotently
            log.warning("journal shared consumer ack failed", extra=kv(error=str(exc)))

    def release(self, consumer: str, cursor: Cursor) -> int:
        reader = self._readers[consumer]
        reader.released = max(reader.released, seq_of(cursor)[0])
        msg = reader.last_msg
        if msg is not None and msg.metadata.sequence.stream < reader.released:
            reader.last_msg = None
            self._spawn(self._ack(msg))
        if self.purging and reader.released - self._purged_to >= self.cfg.purge_every and not self._purge_running:
            self._purge_running = True
            self._spawn(self._purge())
        return 0

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _ack(self, msg) -> None:
        try:
            await msg.ack()  # ack-all: everything before it too
        except NatsError as exc:
            log.warning("journal consumer ack failed; acked again with the next", extra=kv(error=str(exc)))

    async def purge_floor(self) -> int:
        """What every consumer of the fleet has passed (``nats_format.purge_floor``); a
        consumer that reports nothing left is checked against the stream itself."""
        info = await self.js.stream_info(self.stream)
        seen: list[tuple[int, int, int, int | None] | None] = []
        for name in self.consumers:
            try:
                ci = await self.js.consumer_info(self.stream, self._durable(name))
            except NotFoundError:
                seen.append(None)  # its sink never started: it needs everything
                continue
            pending, ack_pending, ack_floor = ci.num_pending or 0, ci.num_ack_pending or 0, ci.ack_floor.stream_seq or 0
            next_match = None
            if not pending and not ack_pending:
                next_match = await self._first_after(ack_floor, ci.config.filter_subject or f"{self.prefix}.>")
            seen.append((pending, ack_pending, ack_floor, next_match))
        return fmt.purge_floor(info.state.last_seq, seen)

    async def _first_after(self, seq: int, subjects: str) -> int | None:
        """The stream sequence of the first message on ``subjects`` after ``seq``; None if none."""
        try:
            return (await self.js.get_msg(self.stream, seq=seq + 1, subject=subjects, next=True)).seq
        except NotFoundError:
            return None

    async def _purge(self) -> None:
        """Drop what every consumer of the fleet has passed; first keep its agents' marks."""
        try:
            floor = await self.purge_floor()
            if not fmt.worth_purging(floor, self._purged_to, self._info[0]):
                return
            await self._remember_marks(floor)
            await self.js.purge_stream(self.stream, seq=floor)
            self._purged_to = floor
            log.info("journal purged what every sink has passed", extra=kv(before_seq=floor))
        except (NatsError, APIError, asyncio.TimeoutError) as exc:
            log.warning("journal purge failed; will retry", extra=kv(error=str(exc)))
        finally:
            self._purge_running = False

    async def _remember_marks(self, floor: int) -> None:
        """Write the mark of every agent whose last message lies below ``floor``. Agents this
        process has not read (their messages came before it took the lease) are looked up."""
        info = await self.js.stream_info(self.stream, subjects_filter=f"{self.prefix}.>")
        for subject in info.state.subjects or {}:
            agent = fmt.unescape_token(subject.rsplit(".", 1)[-1])
            if agent not in self._seen:
                msg = await self.js.get_last_msg(self.stream, subject)
                try:
                    agent, mark = fmt.read_headers(msg.headers)
                except fmt.FormatError:
                    continue  # not a collector's message: no mark in it
                self._seen[agent] = (msg.seq, mark)
        for agent, (seq, mark) in list(self._seen.items()):
            if seq < floor:
                await self.kv_marks.put(fmt.escape_token(agent), str(mark).encode())


class NatsReader:
    """The journal as one sink sees it (the runner's ``journal``): reads go through the sink's
    durable consumer; everything else is the shared journal's."""

    def __init__(self, journal: Consumers, reader: _Reader):
        self._journal = journal
        self._reader = reader

    def __getattr__(self, name):
        return getattr(self._journal, name)

    async def read(self, cursor: Cursor) -> tuple[list[Entry], Cursor]:
        return await self._journal._fetch(self._reader, cursor)
