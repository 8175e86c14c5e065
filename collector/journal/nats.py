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
from pathlib import Path

import nats
from nats.errors import Error as NatsError
from nats.js import api
from nats.js.errors import APIError, KeyNotFoundError, NotFoundError

from auditseal.errors import Halt, Rejected
from auditseal.logs import kv

from . import nats_format as fmt
from .base import Cursor, MarkMoved, Marks, Write
from .nats_consumers import KIND, Consumers, _Reader, seq_of

WRONG_LAST_SEQUENCES = {10071, 10164}  # per-subject expected sequence not met (server versions differ)
STREAM_FULL = 10077  # maximum bytes exceeded (discard new)
NO_STORAGE = 10047  # one server: max_bytes more than its JetStream may store
NO_PLACEMENT = 10005  # a cluster: no replicas' worth of peers for the stream (the reason follows)
PARTITIONS_KEY = "auditseal.partitions"  # stream metadata: agents hash to a partition by it
log = logging.getLogger("auditseal.collector.journal")


def no_room_for_stream(exc: APIError) -> bool:
    """JetStream refused to create the stream because its ``max_bytes`` does not fit its nodes'
    storage (a cluster also says "no suitable peers" when nodes are down: that one passes)."""
    if exc.err_code == NO_STORAGE:
        return True
    return exc.err_code == NO_PLACEMENT and "insufficient storage" in (exc.description or "")


class JournalUnavailable(OSError):
    """JetStream cannot take or serve the call now (no quorum, unreachable, timed out)."""


@dataclass
class AgentMark:
    mark: int  # highest stored event sequence
    subject_seq: int  # stream sequence of the agent's last message still in the stream (0: none)


class NatsJournal(Consumers):
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
        self.shared_pending: dict[str, int] = {}
        self._set_aside_seqs: set[int] = set()
        self.quarantine_dir: Path | None = None  # set by the composition root: where set-aside messages go
        self.foreign_messages = None  # a counter, set by the composition root
        self.skipped_deliveries = None  # a counter, set by the composition root
        self.purged_unread = None  # a counter, set by the composition root
        self.consumers: list[str] = []  # every sink's consumer in the fleet (set by the root)
        self._background: set[asyncio.Task] = set()  # acks and purges in flight (kept referenced)
        self.nc = None
        self.js = None
        self.kv_marks = None
        self.kv_sealer = None
        self.publish_seconds = None  # a histogram, set by the composition root

    # -- connection and stream ----------------------------------------------------------
    async def connect(self) -> None:
        """Connect, then create or check the stream and the buckets. Retries while the
        cluster elects its leaders; a stream set up against the configuration is ``Halt``."""
        try:
            # nats-py retries a first connection forever when reconnects are unlimited: bound it.
            self.nc = await asyncio.wait_for(
                nats.connect(
                    list(self.cfg.servers),
                    connect_timeout=self.cfg.connect_timeout,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    name=f"auditseal-collector {self.cfg.stream}",
                ),
                self.cfg.start_timeout,
            )
        except (NatsError, OSError, asyncio.TimeoutError) as exc:
            raise Halt(
                f"journal: no NATS server of {', '.join(self.cfg.servers)} answered in "
                f"{self.cfg.start_timeout:.0f} s ({type(exc).__name__}: {exc or 'timed out'})"
            ) from None
        self.js = self.nc.jetstream(timeout=self.cfg.publish_timeout)
        await self.until_started("answer", self._prepare)

    async def _prepare(self) -> None:
        await self._ensure_stream()
        self.kv_marks = await self._ensure_marks_bucket()
        # Here, within the start-up retries: right after the stream is made, a busy cluster
        # may take longer than one request's timeout to place a bucket.
        self.kv_sealer = await self._ensure_sealer_bucket()
        await self.refresh_info()

    async def until_started(self, what: str, call):
        """``call()``, retried while JetStream cannot answer yet (a cluster just formed, a
        bucket being placed), for up to ``start_timeout``; then ``Halt`` naming ``what``."""
        deadline = time.monotonic() + self.cfg.start_timeout
        while True:
            try:
                return await call()
            except (NatsError, asyncio.TimeoutError, APIError) as exc:
                if time.monotonic() > deadline:
                    raise Halt(
                        f"journal: JetStream at {', '.join(self.cfg.servers)} did not {what} in "
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
            # Also in the description: servers before 2.10 keep no stream metadata.
            description=f"auditseal journal; partitions={self.cfg.partitions}",
        )

    async def _ensure_stream(self) -> None:
        try:
            info = await self.js.stream_info(self.stream)
        except NotFoundError:
            try:
                await self.js.add_stream(self._stream_config())
            except APIError as exc:
                if not no_room_for_stream(exc):
                    raise
                # Retrying cannot help: the bound is reserved up front on every replica.
                raise Halt(
                    f"journal: JetStream cannot reserve max_bytes {self.cfg.max_bytes} for stream "
                    f"{self.stream} on {self.cfg.replicas} node(s) ({exc.description}, "
                    f"err_code={exc.err_code}); lower journal.max_bytes to what each node's disk holds, "
                    "or give nats-server more room (jetstream max_file_store)"
                ) from None
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
        kept = fmt.partitions_kept(have.metadata, have.description)
        if kept != str(self.cfg.partitions):
            # Agents would hash to other subjects and their marks be missed: duplicates.
            raise Halt(
                f"journal: stream {self.stream} was created with {kept} partition(s) but the "
                f"configuration asks for {self.cfg.partitions}; partitions are fixed per stream"
            )

    async def sealer_bucket(self):
        """The sealers' state (``sinks.sealer_state.KvState``): replicated like the stream,
        made (or found) at ``connect``."""
        return self.kv_sealer

    async def _ensure_sealer_bucket(self):
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
        for name in self._shared:
            try:
                ci = await self.js.consumer_info(self.stream, self._durable(name))
                self.shared_pending[name] = ci.num_pending + ci.num_ack_pending
            except (NatsError, APIError, asyncio.TimeoutError):
                pass

    def lag(self) -> dict[str, int]:
        """Messages behind, per consumer this collector reads (its own and the shared ones)."""
        return {**{r.name: r.pending for r in self._readers.values() if r.sub is not None}, **self.shared_pending}

    # -- marks and append ---------------------------------------------------------------
    async def refresh(self, agent: str, latest: bool = False) -> None:
        """Make ``marks`` hold this agent's mark as JetStream has it (call before deciding);
        known marks are read again only when ``latest`` (a stale one is caught on append)."""
        if latest or agent not in self._agents:
            await self._load(agent)

    async def _load(self, agent: str) -> AgentMark:
        subject = fmt.subject(self.prefix, agent, self.cfg.partitions)
        try:
            try:
                # From the stream leader (a direct get may answer from a replica that lags).
                msg = await self.js.get_last_msg(self.stream, subject)
                try:
                    fmt.decode_message(msg.data)
                    state = AgentMark(fmt.read_headers(msg.headers)[1], msg.seq)
                except fmt.FormatError as exc:  # not a collector's message: its claimed mark is not taken
                    log.error(
                        "the last message on an agent's journal subject is not a collector's; its mark is ignored",
                        extra=kv(agent=agent, stream_seq=msg.seq, reason=str(exc)),
                    )
                    state = AgentMark(0, msg.seq)
            except NotFoundError:
                state = AgentMark(0, 0)
            try:
                entry = await self.kv_marks.get(fmt.escape_token(agent))
                state.mark = max(state.mark, int(entry.value))
            except KeyNotFoundError:
                pass
            state.mark = max(state.mark, self.marks.high.get(agent, 0))  # a mark never goes back
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

    def bytes_held(self) -> int:
        return self._info[2]

    def bytes_behind(self, cursor: Cursor) -> int:
        first, last, held = self._info
        count = max(last - first + 1, 1)
        return int(max(last + 1 - seq_of(cursor)[0], 0) * held / count)

    def segments_held(self) -> int:
        return max(self._info[1] - self._info[0] + 1, 0)

    def open(self) -> None:
        """Nothing on disk: ``connect`` does the work."""

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.close()
