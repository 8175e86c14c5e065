"""The stored form of an event (pure): what the index holds and the archive seals.

Materialised from a journal record, deterministically, so a replay stores the same bytes:
``event.id`` derived from (agent, sequence) — the body's claim is never trusted — and
``event.ingested`` from the journal record, then canonical bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import orjson

from auditseal.formats.event import canonical_bytes, event_id

from ..journal import BatchMeta, Cursor, Entry, decode_batch, event_count


def document(meta: BatchMeta, line: bytes) -> dict:
    doc = orjson.loads(line)
    event = doc["event"]
    event["id"] = event_id(meta.agent, event["sequence"])
    event["ingested"] = meta.ingested
    return doc


def materialise(meta: BatchMeta, line: bytes) -> tuple[dict, bytes]:
    doc = document(meta, line)
    return doc, canonical_bytes(doc)


@dataclass(slots=True)
class StoredEvent:
    cursor: Cursor  # the journal record it came in
    meta: BatchMeta
    line: bytes  # as journaled (what a quarantine keeps)
    doc: dict | None  # materialised; None when it cannot be (then ``error`` says why)
    stored: bytes  # its canonical bytes: what the index holds and the archive seals
    error: Exception | None = None


class Batch:
    """Journal records for one sink call. Iterating yields their events, materialised as
    they are reached — never all held at once (a sealer's batch is tens of thousands)."""

    __slots__ = ("entries", "end", "replay")

    def __init__(self, entries: list[Entry], end: Cursor, replay: bool = False):
        self.entries = entries
        self.end = end  # the cursor after the last record: the sink's new cursor once stored
        self.replay = replay  # some of it may be stored already (delivered before, to a worker that died)

    @property
    def count(self) -> int:
        return sum(event_count(entry.payload) for entry in self.entries)

    def documents(self) -> Iterator[tuple[BatchMeta, dict | None]]:
        """Each event's document as stored (``event.id``, ``event.ingested`` set) without its
        canonical bytes — for a sink that reads events and stores none (the alert sink);
        None for a line that cannot be materialised."""
        for entry in self.entries:
            meta, lines = decode_batch(entry.payload)
            for line in lines:
                try:
                    doc = document(meta, line)
                except Exception:  # its content: the index and the archive quarantine it
                    yield meta, None
                    continue
                yield meta, doc

    def __iter__(self) -> Iterator[StoredEvent]:
        for entry in self.entries:
            meta, lines = decode_batch(entry.payload)
            for line in lines:
                try:
                    doc, stored = materialise(meta, line)
                except Exception as exc:  # its content (a journal written by hand, a defect)
                    yield StoredEvent(entry.cursor, meta, line, None, b"", exc)
                    continue
                yield StoredEvent(entry.cursor, meta, line, doc, stored)
