"""The NATS JetStream journal: accepted batches in a Raft-replicated stream shared by every
collector (the scaled deployment; the local journal stays the embedded default).

Append, per writing agent (``nats_format``): look up the agent's mark (the last message on its
subject, or the marks bucket once that message is purged), publish only what lies past it with
``Nats-Expected-Last-Subject-Sequence`` = that message's stream sequence. The check is made by
the stream leader, so two collectors holding the same agent's retry (a failover mid-batch, a
collector that died after publishing but before answering) cannot both store it: the second
publish is refused (``MarkMoved``), the caller re-reads the mark and finds the events stored.
An acknowledgement comes from the leader once a quorum of replicas has the message (on
nats-server 2.10+ with ``sync_interval: always``, fsynced on each of them).

Reading: each sink is a durable pull consumer (``<stream>_<sink>``, ack-all) started at the
sink's own durable cursor; ``release`` acks up to it. A partition's sealer reads only its
partition's subjects (``<prefix>.p<k>.>``). The collector holding the sinks lease purges what
every consumer of the fleet has acknowledged (from JetStream's consumer info, not from what
this process read) — after the marks of the agents in it are written to the marks bucket, so
a mark outlives its messages. Cursors: ``nats`` with (stream sequence, record index in the
message).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import nats
from nats.errors import Error as NatsError
from nats.js import api
from nats.js.errors import APIError, KeyNotFoundError, NotFoundError

from auditseal.errors import Halt, Rejected
from auditseal.logs import kv

from . import nats_format as fmt
from .base import Cursor, Entry, MarkMoved, Marks, Write

KIND = "nats"
WRONG_LAST_SEQUENCES = {10071, 10164}  # per-subject expected sequence not met (server versions differ)
STREAM_FULL = 10077  # maximum bytes exceeded (discard new)
PARTITIONS_KEY = "auditseal.partitions"  # stream metadata: agents hash to a partition by it
log = logging.getLogger("auditseal.collector.journal")


class JournalUnavailable(OSError):
    """JetStream cannot take or serve the call now (no quorum, unreachable, timed out)."""


@dataclass
class AgentMark:
    mark: int  # highest stored event sequence
    subject_seq: int  # stream sequence of the agent's last message still in the stream (0: none)


def _seq_cursor(seq: int, index: int = 0) -> Cursor:
    return Cursor(KIND, (seq, index))


def _seq_of(cursor: Cursor) -> tuple[int, int]:
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
        self.released = 0  # stream sequence the sink has durably passed
        self.pending = 0  # messages behind, from the consumer's info


class NatsJournal:
    kind = KIND

    def __init__(self, cfg, collector_id: str):
        self.cfg = cfg
        self.stream = cfg.stream
        self.prefix = cfg.subject_prefix
        self.marks = Marks()
        self.failing: str | None = None
        self._agents: dict[str, AgentMark] = {}
        self._readers: dict[str, _Reader] = {}
        self._subscribers: list[asyncio.Event] = []
        self._seen: dict[str, tuple[int, int]] = {}  # agent → (stream seq, mark) of messages read
        self._info = (1, 0, 0)  # first seq, last seq, bytes
        self._purged_to = 0
        self.purging = False  # this collector holds the sinks lease: it purges for the fleet
        self._purge_running = False
        self._shared: dict[str, object] = {}  # sink → pull subscription on its shared consumer
        self.consumers: list[str] = []  # every sink's consumer in the fleet (set by the root)
        self._background: set[asyncio.Task] = set()  # acks and purges in flight (kept referenced)
        self.nc = None
        self.js = None
        self.kv_marks = None
        self.publish_seconds = None  # a histogram, set by the composition root

    # -- connection and stream ----------------------------------------------------------
    async def connect(self) -> None:
        """Connect, then create or check the stream and the marks bucket. Retries while the
        cluster elects its leaders; a stream set up against the configuration is ``Halt``."""
        self.nc = await nats.connect(
            list(self.cfg.servers),
            connect_timeout=self.cfg.connect_timeout,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
            name=f"auditseal-collector {self.cfg.stream}",
        )
        self.js = self.nc.jetstream(timeout=self.cfg.publish_timeout)
        deadline = time.monotonic() + self.cfg.start_timeout
        while True:
            try:
                await self._ensure_stream()
                self.kv_marks = await self._ensure_marks_bucket()
                await self.refresh_info()
                return
            except Halt:
                raise
            except (NatsError, asyncio.TimeoutError, APIError) as exc:
                if time.monotonic() > deadline:
                    raise Halt(
                        f"journal: JetStream at {', '.join(self.cfg.servers)} did not answer in "
                        f"{self.cfg.start_timeout:.0f} s: {type(exc).__name__}: {exc}"
                    ) from None
                await asyncio.sleep(0.3)

    def _stream_config(self) -> api.StreamConfig:
        return api.StreamConfig(
            name=self.stream,
            subjects=[f"{self.prefix}.>"],
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS,
            num_replicas=self.cfg.replicas,
            max_bytes=self.cfg.max_bytes,
            discard=api.DiscardPolicy.NEW,
            duplicate_window=self.cfg.duplicate_window,
            allow_direct=True,
            metadata={PARTITIONS_KEY: str(self.cfg.partitions)},
        )

    async def _ensure_stream(self) -> None:
        try:
            info = await self.js.stream_info(self.stream)
        except NotFoundError:
            await self.js.add_stream(self._stream_config())
            log.info("created the journal stream", extra=kv(stream=self.stream, replicas=self.cfg.replicas))
            return
        have = info.config
        if (have.num_replicas or 1) < self.cfg.replicas:
            raise Halt(
                f"journal: stream {self.stream} keeps {have.num_replicas or 1} replica(s) but the "
                f"configuration asks for {self.cfg.replicas}; refusing to journal on it "
                f"(raise its replicas with `nats stream edit`, or configure replicas: {have.num_replicas or 1})"
            )
        if have.storage != api.StorageType.FILE:
            raise Halt(f"journal: stream {self.stream} is kept in memory; a journal stream needs file storage")
        if f"{self.prefix}.>" not in (have.subjects or []):
            raise Halt(f"journal: stream {self.stream} does not take subjects {self.prefix}.>")
        kept = (have.metadata or {}).get(PARTITIONS_KEY, "1")
        if kept != str(self.cfg.partitions):
            # Agents would hash to other subjects and their marks be missed: duplicates.
            raise Halt(
                f"journal: stream {self.stream} was created with {kept} partition(s) but the "
                f"configuration asks for {self.cfg.partitions}; partitions are fixed per stream"
            )

    async def sealer_bucket(self):
        """The sealers' state (``sinks.sealer_state.KvState``): replicated like the stream."""
        return await self.js.create_key_value(
            bucket=f"{self.stream}_sealer", history=1, replicas=self.cfg.replicas, storage=api.StorageType.FILE
        )

    async def _ensure_marks_bucket(self):
        return await self.js.create_key_value(
            bucket=f"{self.stream}_marks", history=1, replicas=self.cfg.replicas, storage=api.StorageType.FILE
        )

    async def _on_error(self, exc) -> None:
        self.failing = f"nats: {type(exc).__name__}: {exc}"

    async def _on_disconnected(self) -> None:
        if self.nc is None or self.nc.is_closed or self.nc.is_draining:
            return  # our own close
        self.failing = "nats: disconnected from every JetStream server"
        log.error("journal disconnected from NATS; ingest answers 503 until it is back")

    async def _on_reconnected(self) -> None:
        log.info("journal reconnected to NATS", extra=kv(server=str(self.nc.connected_url.netloc)))

    async def refresh_info(self) -> None:
        """Stream bounds and each reader's lag (for readiness and metrics)."""
        info = await self.js.stream_info(self.stream)
        self._info = (info.state.first_seq, info.state.last_seq, info.state.bytes)
        for reader in self._readers.values():
            if reader.sub is None:
                continue
            try:
                ci = await self.js.consumer_info(self.stream, self._durable(reader.name))
                reader.pending = ci.num_pending + ci.num_ack_pending
            except (NatsError, APIError, asyncio.TimeoutError):
                pass

    # -- marks and append ---------------------------------------------------------------
    async def refresh(self, agent: str) -> None:
        """Make ``marks`` hold this agent's mark as JetStream has it (call before deciding)."""
        if agent not in self._agents:
            await self._load(agent)

    async def _load(self, agent: str) -> AgentMark:
        subject = fmt.subject(self.prefix, agent, self.cfg.partitions)
        try:
            try:
                # From the stream leader (a direct get may answer from a replica that lags).
                msg = await self.js.get_last_msg(self.stream, subject)
                state = AgentMark(int(msg.headers[fmt.H_LAST]), msg.seq)
            except NotFoundError:
                state = AgentMark(0, 0)
            try:
                entry = await self.kv_marks.get(fmt.escape_token(agent))
                state.mark = max(state.mark, int(entry.value))
            except KeyNotFoundError:
                pass
        except (NatsError, APIError, asyncio.TimeoutError) as exc:
            raise self._unavailable(exc) from None
        self._agents[agent] = state
        self.marks.high[agent] = max(self.marks.high.get(agent, 0), state.mark)
        return state

    def _unavailable(self, exc: Exception) -> JournalUnavailable:
        self.failing = f"nats: {type(exc).__name__}: {exc}"[:300]
        return JournalUnavailable(self.failing)

    async def append(self, writes: list[Write]) -> None:
        """Store ``writes`` (one message per agent), each past its agent's mark; returns once
        JetStream acknowledged every message. Gap events (the collector's own stream, last in
        ``writes``) go first: a crash between leaves a repeated gap record, never a lost one."""
        groups: dict[str, list[Write]] = {}
        for w in writes:
            groups.setdefault(w.agent, []).append(w)
        for agent in reversed(list(groups)):
            await self._publish(agent, groups[agent])
        self.failing = None
        for event in self._subscribers:
            event.set()

    async def _publish(self, agent: str, group: list[Write]) -> None:
        state = self._agents.get(agent) or await self._load(agent)
        fresh = [w for w in group if w.last_seq > state.mark]
        if not fresh:
            return
        last = max(w.last_seq for w in fresh)
        headers = {
            fmt.H_MSG_ID: fmt.msg_id(agent, state.mark + 1, last),
            fmt.H_AGENT: agent,
            fmt.H_LAST: str(last),
            fmt.H_EXPECT: str(state.subject_seq),
        }
        started = time.perf_counter()
        try:
            # nats-py leaves an ack future pending on some server errors: always bound the wait.
            ack = await asyncio.wait_for(
                self.js.publish(
                    fmt.subject(self.prefix, agent, self.cfg.partitions),
                    fmt.encode_message([w.payload for w in fresh]),
                    stream=self.stream,
                    headers=headers,
                ),
                self.cfg.publish_timeout + 1,
            )
        except APIError as exc:
            if exc.err_code in WRONG_LAST_SEQUENCES:
                self._agents.pop(agent, None)
                await self._load(agent)
                raise MarkMoved(agent) from None
            if exc.err_code == STREAM_FULL:
                raise Rejected("journal_full", "journal stream is full; sinks are catching up") from None
            raise self._unavailable(exc) from None
        except (NatsError, asyncio.TimeoutError) as exc:
            self._agents.pop(agent, None)  # the publish may have landed: read the mark again
            raise self._unavailable(exc) from None
        if self.publish_seconds is not None:
            self.publish_seconds.observe(time.perf_counter() - started)
        if ack.duplicate:  # our own earlier publish whose ack was lost: it is stored
            self._agents.pop(agent, None)
            await self._load(agent)
            return
        self._agents[agent] = AgentMark(last, ack.seq)
        self.marks.stored(agent, last)

    def full(self) -> bool:
        return self.cfg.max_bytes > 0 and self._info[2] >= self.cfg.max_bytes * 0.98

    # -- readers ------------------------------------------------------------------------
    def _durable(self, name: str) -> str:
        return f"{self.stream}_{name}"

    def register(self, consumer: str, cursor: Cursor) -> None:
        self._readers[consumer].released = _seq_of(cursor)[0]

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        self._subscribers.append(event)
        return event

    def start(self) -> Cursor:
        return _seq_cursor(max(self._info[0], 1))

    @property
    def end(self) -> Cursor:
        return _seq_cursor(self._info[1] + 1)

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

    def reader(self, consumer: str, partition: int | None = None) -> "NatsReader":
        """Sink ``consumer``'s view; ``partition``: only that partition's subjects."""
        subjects = f"{self.prefix}.>" if partition is None else f"{self.prefix}.p{partition}.>"
        return NatsReader(self, self._readers.setdefault(consumer, _Reader(consumer, subjects)))

    async def _fetch(self, reader: _Reader, cursor: Cursor) -> tuple[list[Entry], Cursor]:
        seq, index = _seq_of(cursor)
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
        for msg in msgs:
            stream_seq = msg.metadata.sequence.stream
            if stream_seq < seq:
                continue
            agent, mark = msg.headers.get(fmt.H_AGENT, ""), int(msg.headers.get(fmt.H_LAST, "0"))
            if agent and self._seen.get(agent, (0, 0))[0] < stream_seq:
                self._seen[agent] = (stream_seq, mark)
            try:
                payloads = fmt.decode_message(msg.data)
            except fmt.FormatError as exc:
                # Not written by a collector of this release: never skipped silently.
                raise Halt(f"journal: stream {self.stream} message {stream_seq}: {exc}") from None
            start = index if stream_seq == seq else 0
            entries += [Entry(_seq_cursor(stream_seq, i), p) for i, p in enumerate(payloads) if i >= start]
            nxt = _seq_cursor(stream_seq + 1)
            reader.last_msg = msg
        reader.next_seq = nxt.at[0]
        return entries, nxt

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
            agent, mark = msg.headers.get(fmt.H_AGENT, ""), int(msg.headers.get(fmt.H_LAST, "0"))
            if agent and self._seen.get(agent, (0, 0))[0] < stream_seq:
                self._seen[agent] = (stream_seq, mark)
            try:
                payloads = fmt.decode_message(msg.data)
            except fmt.FormatError as exc:
                raise Halt(f"journal: stream {self.stream} message {stream_seq}: {exc}") from None
            out.append((msg, [Entry(_seq_cursor(stream_seq, i), p) for i, p in enumerate(payloads)]))
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
        reader.released = max(reader.released, _seq_of(cursor)[0])
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
        """What every consumer of the fleet has passed (``nats_format.purge_floor``)."""
        info = await self.js.stream_info(self.stream)
        seen: list[tuple[int, int, int] | None] = []
        for name in self.consumers:
            try:
                ci = await self.js.consumer_info(self.stream, self._durable(name))
            except NotFoundError:
                seen.append(None)  # its sink never started: it needs everything
                continue
            seen.append((ci.num_pending or 0, ci.num_ack_pending or 0, ci.ack_floor.stream_seq or 0))
        return fmt.purge_floor(info.state.last_seq, seen)

    async def _purge(self) -> None:
        """Drop what every consumer of the fleet has passed; first keep its agents' marks."""
        try:
            floor = await self.purge_floor()
            if floor <= max(self._purged_to, self._info[0]):
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
                self._seen[agent] = (msg.seq, int(msg.headers[fmt.H_LAST]))
        for agent, (seq, mark) in list(self._seen.items()):
            if seq < floor:
                await self.kv_marks.put(fmt.escape_token(agent), str(mark).encode())

    def bytes_held(self) -> int:
        return self._info[2]

    def bytes_behind(self, cursor: Cursor) -> int:
        first, last, held = self._info
        count = max(last - first + 1, 1)
        return int(max(last + 1 - _seq_of(cursor)[0], 0) * held / count)

    def segments_held(self) -> int:
        return max(self._info[1] - self._info[0] + 1, 0)

    def open(self) -> None:
        """Nothing on disk: ``connect`` does the work."""

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.close()


class NatsReader:
    """The journal as one sink sees it (the runner's ``journal``): reads go through the sink's
    durable consumer; everything else is the shared journal's."""

    def __init__(self, journal: NatsJournal, reader: _Reader):
        self._journal = journal
        self._reader = reader

    def __getattr__(self, name):
        return getattr(self._journal, name)

    async def read(self, cursor: Cursor) -> tuple[list[Entry], Cursor]:
        return await self._journal._fetch(self._reader, cursor)
