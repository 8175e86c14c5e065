"""Sealer sink: per-(tenant, partition) Merkle logs, archive segments, signed checkpoints.

For each batch of journal records it appends every tenant's new events to that tenant's
log, writes one archive segment per tenant, then a checkpoint signed with the collector's
Ed25519 key (``auditseal.checkpoint``). Idle logs get a fresh checkpoint at least every
``checkpoint_interval`` seconds.

Crash safety, in write order: (1) segment object, (2) checkpoint object, (3) the log's
private state (size, compact range, checkpoint counter, journal position), atomically.
On start, objects beyond the recorded state are leftovers of a seal that never completed:
they are removed and those events are sealed again from the journal. A log's recorded
journal position makes replays skip what it already holds: no event is sealed twice.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from auditseal import archive
from auditseal.checkpoint import Checkpoint, SegmentRef
from auditseal.crypto import SegmentCipher
from auditseal.errors import Halt
from auditseal.event import utc_now_iso
from auditseal.logs import kv
from auditseal.merkle import CompactRange, leaf_hash
from auditseal.note import Signer
from auditseal.records import Record
from auditseal.segments import Position, write_atomic

from .journal import decode_batch
from .stored import materialise

log = logging.getLogger("auditseal.collector.sealer")
PARTITION = "0"


@dataclass
class LogState:
    tenant: str
    size: int = 0
    frontier: CompactRange | None = None
    counter: int = 0
    journal_end: Position = Position(0, 0)
    last_checkpoint: float = 0.0

    def to_json(self) -> bytes:
        return orjson.dumps({
            "tenant": self.tenant, "size": self.size, "counter": self.counter,
            "frontier": [base64.b64encode(h).decode() for h in self.frontier.hashes],
            "journal_end": [self.journal_end.segment, self.journal_end.offset],
            "last_checkpoint": self.last_checkpoint})

    @classmethod
    def from_json(cls, data: bytes) -> "LogState":
        d = orjson.loads(data)
        frontier = CompactRange(d["size"], [base64.b64decode(h) for h in d["frontier"]])
        return cls(d["tenant"], d["size"], frontier, d["counter"], Position(*d["journal_end"]),
                   d["last_checkpoint"])


class Sealer:
    name = "archive"

    def __init__(self, store: archive.LocalStore, state_dir: Path, signer: Signer, log_prefix: str,
                 checkpoint_interval: float = 3600.0, cipher: SegmentCipher | None = None):
        self.cipher = cipher  # AES-256-GCM at rest when set
        self.store = store
        self.state_dir = Path(state_dir)
        self.signer = signer
        self.log_prefix = log_prefix  # origin = <prefix>/<tenant>/<partition>
        self.checkpoint_interval = checkpoint_interval
        self.states: dict[str, LogState] = {}
        self._lock = threading.Lock()  # process() runs on a worker thread, tick() too

    # -- sink protocol -------------------------------------------------------------------
    def open(self) -> Position | None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for path in self.state_dir.glob("*.log.json"):
            state = LogState.from_json(path.read_bytes())
            self.states[state.tenant] = state
        for tenant, partition in archive.list_logs(self.store):
            if tenant not in self.states:
                raise Halt(f"archive log {tenant}/{partition} exists but the sealer state for it is "
                           f"missing from {self.state_dir}; restore the state directory")
            self._remove_unsealed(self.states[tenant])
        cursor = self.state_dir / "cursor.json"
        return Position(*orjson.loads(cursor.read_bytes())) if cursor.exists() else None

    def process(self, records: list[tuple[Position, Record]], end: Position) -> None:
        per_tenant: dict[str, list[bytes]] = {}
        for position, record in records:
            meta, lines = decode_batch(record.payload)
            state = self.states.get(meta.tenant)
            if state is not None and position < state.journal_end:
                continue  # sealed before a crash
            per_tenant.setdefault(meta.tenant, []).extend(materialise(meta, line)[1] for line in lines)
        with self._lock:
            for tenant, lines in sorted(per_tenant.items()):
                self._seal(tenant, lines, end)
        write_atomic(self.state_dir / "cursor.json", orjson.dumps([end.segment, end.offset]))

    def close(self) -> None:
        pass

    # -- sealing ---------------------------------------------------------------------------
    def _log(self, tenant: str) -> str:
        return f"{tenant}/{PARTITION}"

    def origin(self, tenant: str) -> str:
        return f"{self.log_prefix}/{tenant}/{PARTITION}"

    def _seal(self, tenant: str, lines: list[bytes], journal_end: Position) -> None:
        state = self.states.setdefault(tenant, LogState(tenant, frontier=CompactRange()))
        before = state.frontier.copy()
        after = state.frontier.copy()
        for line in lines:
            after.append(leaf_hash(line))
        key = archive.segment_key(state.size, len(lines))
        blob = archive.encode_segment(lines, self.cipher, f"{self._log(tenant)}/{key}")
        segment = SegmentRef(key, hashlib.sha256(blob).hexdigest(), state.size, len(lines))
        checkpoint = Checkpoint(self.origin(tenant), after.size, after.root(), state.counter + 1,
                                utc_now_iso(), segment, before)
        self.store.put_once(f"{self._log(tenant)}/{key}", blob)
        self.store.put_once(f"{self._log(tenant)}/{archive.checkpoint_key(checkpoint.counter)}",
                            self.signer.sign(checkpoint.text()).encode())
        state.size, state.frontier, state.counter = after.size, after, checkpoint.counter
        state.journal_end, state.last_checkpoint = journal_end, time.time()
        self._save(state)

    def tick(self) -> int:
        """Checkpoint every log idle for ``checkpoint_interval``; returns how many."""
        written = 0
        with self._lock:
            for state in list(self.states.values()):
                if time.time() - state.last_checkpoint < self.checkpoint_interval:
                    continue
                checkpoint = Checkpoint(self.origin(state.tenant), state.size, state.frontier.root(),
                                        state.counter + 1, utc_now_iso(), None, state.frontier.copy())
                self.store.put_once(f"{self._log(state.tenant)}/{archive.checkpoint_key(checkpoint.counter)}",
                                    self.signer.sign(checkpoint.text()).encode())
                state.counter, state.last_checkpoint = checkpoint.counter, time.time()
                self._save(state)
                written += 1
        return written

    def _save(self, state: LogState) -> None:
        write_atomic(self.state_dir / f"{state.tenant}.log.json", state.to_json())

    def _remove_unsealed(self, state: LogState) -> None:
        prefix = self._log(state.tenant)
        for key in self.store.list(prefix):
            rel = key[len(prefix) + 1:]
            seg = archive.SEGMENT_RE.match(rel)
            ckpt = archive.CHECKPOINT_RE.match(rel)
            if (seg and int(seg.group(1)) >= state.size) or (ckpt and int(ckpt.group(1)) > state.counter):
                log.warning("removing an archive object from a seal that never completed",
                            extra=kv(key=key))
                self.store.remove_unsealed(key)
