"""Sealer sink: per-(tenant, partition) Merkle logs, archive segments, signed checkpoints.

One log per (tenant, retention partition): the retention policy puts each event in a
partition, so every object carries one retain-until date. For each batch of journal
records it appends every log's new events, writes one archive segment per log, then a
checkpoint signed with the collector's Ed25519 key (``auditseal.formats.checkpoint``). Idle logs
get a fresh checkpoint at least every ``checkpoint_interval`` seconds.

Crash safety, in write order: (0) an *intent* file holding the log's next state and the
signed checkpoint, fsynced; (1) segment object; (2) checkpoint object; (3) the log's state
(size, compact range, counter, journal position), atomically; (4) intent removed. A seal
that stopped part-way is rolled *forward* from its intent when its segment reached the
store (an S3 PUT whose answer was lost, a crash, a locked bucket where nothing can be
removed) and dropped when it did not. Objects beyond the recorded state with no intent
(a state directory restored from an old backup) are removed where the store allows it.
A log's recorded journal position makes replays skip what it already holds: no event is
sealed twice.

Partitioned (a NATS-journal fleet, ``journal.partitions`` > 1): one sealer per journal
partition ``shard``, each the only writer of its logs (``<tenant>/<class>.<shard>``, partition 0
keeping ``<tenant>/<class>``) with its own state directory, fed by its partition's consumer.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from auditseal import crashpoints
from auditseal.errors import Halt
from auditseal.formats.checkpoint import Checkpoint, SegmentRef
from auditseal.formats.crypto import SegmentCipher
from auditseal.formats.event import utc_now_iso
from auditseal.formats.merkle import CompactRange, leaf_hash
from auditseal.formats.note import Signer
from auditseal.logs import kv
from auditseal.storage import archive

from ..journal import Cursor
from ..retention import DEFAULT_PARTITION, RetentionPolicy, shard_of, shard_partition
from .base import Batch, SinkUnavailable
from .quarantine import is_poison
from .sealer_state import Fenced, FileState
from .stored import materialise

log = logging.getLogger("auditseal.collector.sealer")


@dataclass
class LogState:
    tenant: str
    size: int = 0
    frontier: CompactRange | None = None
    counter: int = 0
    journal_end: Cursor | None = None  # the journal cursor after what this log holds
    last_checkpoint: float = 0.0
    partition: str = DEFAULT_PARTITION

    @property
    def name(self) -> str:
        return f"{self.tenant}/{self.partition}"

    @property
    def file_stem(self) -> str:
        return self.tenant if self.partition == DEFAULT_PARTITION else f"{self.tenant}@{self.partition}"

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "tenant": self.tenant,
                "partition": self.partition,
                "size": self.size,
                "counter": self.counter,
                "frontier": [base64.b64encode(h).decode() for h in self.frontier.hashes],
                "journal_end": self.journal_end.encode() if self.journal_end else None,
                "last_checkpoint": self.last_checkpoint,
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> "LogState":
        d = orjson.loads(data)
        frontier = CompactRange(d["size"], [base64.b64decode(h) for h in d["frontier"]])
        end = Cursor.decode(d["journal_end"]) if d["journal_end"] else None
        return cls(
            d["tenant"],
            d["size"],
            frontier,
            d["counter"],
            end,
            d["last_checkpoint"],
            d.get("partition", DEFAULT_PARTITION),
        )


@dataclass
class _Pending:
    """New events of one log within one journal batch."""

    lines: list[bytes] = field(default_factory=list)
    first_ts: str = ""
    last_ts: str = ""

    def add(self, doc: dict, line: bytes) -> None:
        ts = doc.get("@timestamp", "")
        self.first_ts = min(self.first_ts, ts) if self.first_ts else ts
        self.last_ts = max(self.last_ts, ts)
        self.lines.append(line)


class Sealer:
    name = "archive"

    def __init__(
        self,
        store,
        state_dir: Path,
        signer: Signer,
        log_prefix: str,
        checkpoint_interval: float = 3600.0,
        cipher: SegmentCipher | None = None,
        retention: RetentionPolicy | None = None,
        quarantine=None,
        shard: int = 0,
        saved=None,
        holding=None,
    ):
        self.shard = shard
        # Where the state lives (``sealer_state``): the state directory, or a fleet's bucket.
        self.saved = saved or FileState(Path(state_dir))
        # () -> bool: this collector holds the partition's lease (a fleet); checked before
        # each seal, and it decides whether a refused state write means "stop" or "reload".
        self.holding = holding or (lambda: True)
        self._fenced = False
        self.name = "archive" if shard == 0 else f"archive-p{shard}"
        self.cipher = cipher  # AES-256-GCM at rest when set
        self.store = store
        self.state_dir = Path(state_dir)
        self.signer = signer
        self.log_prefix = log_prefix  # origin = <prefix>/<tenant>/<partition>
        self.checkpoint_interval = checkpoint_interval
        self.retention = retention or RetentionPolicy()
        self.quarantine = quarantine  # collector.quarantine.Quarantine: events it cannot seal
        self.states: dict[str, LogState] = {}  # by log name <tenant>/<partition>
        self._lock = threading.Lock()  # process() runs on a worker thread, tick() too
        self._unsettled = False  # a seal failed part-way: its intent is resolved before the next

    # -- sink protocol -------------------------------------------------------------------
    def open(self) -> Cursor | None:
        try:
            return self._open()
        except OSError as exc:  # the store or the state directory cannot be read now
            raise SinkUnavailable(f"archive: {exc}") from exc

    def _open(self) -> Cursor | None:
        self.store.check_posture()  # a bucket that cannot lock records: Halt
        cursor = self._load()
        self._fenced = False
        for tenant, partition in archive.list_logs(self.store):
            if shard_of(partition) != self.shard:
                continue  # another partition's sealer writes it
            state = self.states.get(f"{tenant}/{partition}")
            if state is None:
                raise Halt(
                    f"archive log {tenant}/{partition} exists but the sealer state for it is "
                    f"missing from {self.saved.where}; restore it"
                )
            self._remove_unsealed(state)
        return cursor

    def _load(self) -> Cursor | None:
        """Every log's state as saved, interrupted seals resolved; the saved cursor."""
        states, intents, cursor = self.saved.load()
        self.states = {}
        for data in states:
            state = LogState.from_json(data)
            self.states[state.name] = state
        self._resolve_intents(intents)
        return Cursor.decode(orjson.loads(cursor)) if cursor else None

    def process(self, batch: Batch) -> None:
        if self._fenced or not self.holding():
            raise SinkUnavailable("archive: this collector is not the partition's sealer now (lease lost)")
        try:
            self._process(batch)
        except Fenced as exc:
            # Another sealer wrote our state: if the lease is still ours it was a zombie
            # (it stops), and we go on from what it wrote; otherwise we are the zombie.
            self._fenced = not self.holding()
            self._unsettled = True
            raise SinkUnavailable(f"archive: {exc}") from exc
        except OSError as exc:  # disk full, the bucket unreachable: the store's health, not the events'
            raise SinkUnavailable(f"archive: {exc}") from exc

    def _process(self, batch: Batch) -> None:
        end = batch.end
        if self._unsettled:  # a seal a failed call left part-way (no directory scan per batch)
            with self._lock:
                self._load()
            self._unsettled = False
        per_log: dict[tuple[str, str], _Pending] = {}
        for event in batch:
            if event.error is not None:
                self._set_aside(event.error, event.cursor, event.meta, event.line)
                continue
            try:
                partition = shard_partition(self.retention.partition(event.doc), self.shard)
            except Exception as exc:  # this event's content, not the store: set it aside
                self._set_aside(exc, event.cursor, event.meta, event.line)
                continue
            state = self.states.get(f"{event.meta.tenant}/{partition}")
            if state is not None and state.journal_end is not None and event.cursor < state.journal_end:
                continue  # sealed before a crash
            per_log.setdefault((event.meta.tenant, partition), _Pending()).add(event.doc, event.stored)
        with self._lock:
            for (tenant, partition), pending in sorted(per_log.items()):
                try:
                    self._seal(tenant, partition, pending, end)
                except BaseException:
                    self._unsettled = True
                    raise
        self.saved.save_cursor(orjson.dumps(end.encode()))

    def _set_aside(self, exc: Exception, cursor: Cursor, meta, line: bytes) -> None:
        if self.quarantine is None or not is_poison(exc):
            raise exc
        self.quarantine.add(cursor, meta, line, exc)  # a replay adds the same entry

    def close(self) -> None:
        pass

    def retry(self, items) -> list[str]:
        """Seal quarantined events now (``quarantine retry``), each in its log's next segment;
        returns the ids sealed. The logs' journal positions stay as they are."""
        per_log: dict[tuple[str, str], _Pending] = {}
        ids = []
        for meta, line in items:
            try:
                doc, stored = materialise(meta, line)
                partition = shard_partition(self.retention.partition(doc), self.shard)
            except Exception as exc:
                if not is_poison(exc):
                    raise
                continue
            per_log.setdefault((meta.tenant, partition), _Pending()).add(doc, stored)
            ids.append(doc["event"]["id"])
        with self._lock:
            for (tenant, partition), pending in sorted(per_log.items()):
                state = self.states.get(f"{tenant}/{partition}")
                self._seal(tenant, partition, pending, state.journal_end if state else None)
        return ids

    # -- sealing ---------------------------------------------------------------------------
    def origin(self, tenant: str, partition: str = DEFAULT_PARTITION) -> str:
        return f"{self.log_prefix}/{tenant}/{partition}"

    def _seal(self, tenant: str, partition: str, pending: _Pending, journal_end: Cursor | None) -> None:
        name = f"{tenant}/{partition}"
        state = self.states.get(name) or LogState(tenant, frontier=CompactRange(), partition=partition)
        after = state.frontier.copy()
        for line in pending.lines:
            after.append(leaf_hash(line))
        key = archive.segment_key(state.size, len(pending.lines))
        blob = archive.encode_segment(pending.lines, self.cipher, f"{name}/{key}")
        segment = SegmentRef(key, hashlib.sha256(blob).hexdigest(), state.size, len(pending.lines))
        checkpoint = Checkpoint(
            self.origin(tenant, partition),
            after.size,
            after.root(),
            state.counter + 1,
            utc_now_iso(),
            segment,
            state.frontier.copy(),
        )
        new = LogState(tenant, after.size, after, checkpoint.counter, journal_end, time.time(), partition)
        note = self.signer.sign(checkpoint.text()).encode()
        self._write_intent(new, segment, note)
        retain_until = self.retention.retain_until(partition)
        self.saved.check(new.file_stem)  # still ours, right before the objects
        self.store.put_once(
            f"{name}/{key}",
            blob,
            retain_until=retain_until,
            metadata={"events-from": pending.first_ts, "events-to": pending.last_ts},
        )
        crashpoints.hit("mid_seal")  # tests: a holder dying between its segment and its checkpoint
        self.saved.check(new.file_stem)
        self.store.put_once(f"{name}/{archive.checkpoint_key(checkpoint.counter)}", note, retain_until=retain_until)
        self._commit(new)

    def tick(self) -> int:
        """Checkpoint every log idle for ``checkpoint_interval``; returns how many."""
        written = 0
        with self._lock:
            for state in list(self.states.values()):
                if time.time() - state.last_checkpoint < self.checkpoint_interval:
                    continue
                if not self.holding():
                    return written
                self.saved.check(state.file_stem)
                checkpoint = Checkpoint(
                    self.origin(state.tenant, state.partition),
                    state.size,
                    state.frontier.root(),
                    state.counter + 1,
                    utc_now_iso(),
                    None,
                    state.frontier.copy(),
                )
                self.store.put_once(
                    f"{state.name}/{archive.checkpoint_key(checkpoint.counter)}",
                    self.signer.sign(checkpoint.text()).encode(),
                    retain_until=self.retention.retain_until(state.partition),
                )
                state.counter, state.last_checkpoint = checkpoint.counter, time.time()
                self._save(state)
                written += 1
        return written

    # -- state, intents and recovery -------------------------------------------------------
    def _save(self, state: LogState) -> None:
        self.saved.save(state.file_stem, state.to_json())

    def _write_intent(self, new: LogState, segment: SegmentRef, note: bytes) -> None:
        self.saved.write_intent(
            new.file_stem,
            orjson.dumps(
                {
                    "state": orjson.loads(new.to_json()),
                    "segment": segment.key,
                    "sha256": segment.sha256,
                    "note": note.decode(),
                }
            ),
        )

    def _commit(self, new: LogState) -> None:
        self.saved.commit(new.file_stem, new.to_json())
        self.states[new.name] = new

    def _resolve_intents(self, intents: list[bytes]) -> None:
        """Finish or drop every seal that stopped between its intent and its state."""
        for data in intents:
            intent = orjson.loads(data)
            new = LogState.from_json(orjson.dumps(intent["state"]))
            old = self.states.get(new.name)
            if old is not None and old.counter >= new.counter:
                self.saved.drop_intent(new.file_stem)  # the state was saved; only the removal was missed
                continue
            segment_key = f"{new.name}/{intent['segment']}"
            if not self.store.exists(segment_key):
                log.warning(
                    "dropping a seal whose segment never reached the archive; its events "
                    "are sealed again from the journal",
                    extra=kv(log=new.name, segment=segment_key),
                )
                self.saved.drop_intent(new.file_stem)
                continue
            if hashlib.sha256(self.store.get(segment_key)).hexdigest() != intent["sha256"]:
                raise Halt(
                    f"{segment_key} differs from the one this collector was sealing; "
                    f"someone wrote to the archive: run `auditseal verify`"
                )
            checkpoint_key = f"{new.name}/{archive.checkpoint_key(new.counter)}"
            if not self.store.exists(checkpoint_key):
                self.store.put_once(
                    checkpoint_key, intent["note"].encode(), retain_until=self.retention.retain_until(new.partition)
                )
            elif self.store.get(checkpoint_key) != intent["note"].encode():
                # Another writer extended this chain past our intent (two sealers at once:
                # a lease outlived). Going on would fork it; an operator must look.
                raise Halt(
                    f"{checkpoint_key} is not the checkpoint this sealer was writing: another "
                    f"sealer extended {new.name}; run `auditseal verify` before restarting"
                )
            log.info("completed a seal interrupted part-way", extra=kv(log=new.name, segment=segment_key))
            self._commit(new)

    def _remove_unsealed(self, state: LogState) -> None:
        prefix = state.name
        # Only what lies beyond the recorded state (keys sort by their zero-padded numbers).
        beyond = self.store.list(f"{prefix}/segments/", f"{prefix}/segments/{state.size:012d}") + self.store.list(
            f"{prefix}/checkpoints/", f"{prefix}/{archive.checkpoint_key(state.counter)}"
        )
        for key in beyond:
            rel = key[len(prefix) + 1 :]
            seg = archive.SEGMENT_RE.match(rel)
            ckpt = archive.CHECKPOINT_RE.match(rel)
            if (seg and int(seg.group(1)) >= state.size) or (ckpt and int(ckpt.group(1)) > state.counter):
                log.warning("removing an archive object from a seal that never completed", extra=kv(key=key))
                self.store.remove_unsealed(key)
