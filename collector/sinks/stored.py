"""The stored form of an event (pure): what the index holds and the archive seals.

Materialised from a journal record, deterministically, so a replay stores the same bytes:
``event.id`` derived from (agent, sequence) — the body's claim is never trusted — and
``event.ingested`` from the journal record, then canonical bytes.
"""

from __future__ import annotations

import orjson

from auditseal.formats.event import canonical_bytes, event_id

from ..journal import BatchMeta, Cursor, Entry, decode_batch
from .base import Batch, StoredEvent, Unreadable


def materialise(meta: BatchMeta, line: bytes) -> tuple[dict, bytes]:
    doc = orjson.loads(line)
    event = doc["event"]
    event["id"] = event_id(meta.agent, event["sequence"])
    event["ingested"] = meta.ingested
    return doc, canonical_bytes(doc)


def decode(entries: list[Entry], end: Cursor) -> Batch:
    """The events of ``entries``, each materialised once; a line that cannot be (not the
    stored form: a journal written by hand, a defect) is kept aside as unreadable."""
    events: list[StoredEvent] = []
    unreadable: list[Unreadable] = []
    for entry in entries:
        meta, lines = decode_batch(entry.payload)
        for line in lines:
            try:
                doc, stored = materialise(meta, line)
            except Exception as exc:  # its content: each sink quarantines it
                unreadable.append(Unreadable(entry.cursor, meta, line, exc))
                continue
            events.append(StoredEvent(entry.cursor, meta, line, doc, stored))
    return Batch(events, end, unreadable)
