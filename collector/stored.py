"""The stored form of an event (pure): what the index holds and the archive seals.

Materialised from a journal record, deterministically, so a replay stores the same bytes:
``event.id`` derived from (agent, sequence) — the body's claim is never trusted — and
``event.ingested`` from the journal record, then canonical bytes.
"""

from __future__ import annotations

import orjson

from auditseal.event import canonical_bytes, event_id

from .journal import BatchMeta


def materialise(meta: BatchMeta, line: bytes) -> tuple[dict, bytes]:
    doc = orjson.loads(line)
    event = doc["event"]
    event["id"] = event_id(meta.agent, event["sequence"])
    event["ingested"] = meta.ingested
    return doc, canonical_bytes(doc)
