"""Bulk requests and their per-item answers (pure).

Every event is sent as ``create`` with ``_id = event.id`` into its tenant's data stream
(data streams accept only ``create``). Elasticsearch answers HTTP 200 with one status per
item; each is sorted into what the sink does next:

- 200/201: stored. 409 ``version_conflict_engine_exception``: already stored (a replay).
- 429 (``es_rejected_execution_exception``) and 5xx: sent again after a backoff.
- any other 4xx (mapping errors): dead-lettered with the reason; the event stays in the
  archive, and the dead-letter file names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson


@dataclass(frozen=True)
class Doc:
    tenant: str
    stream: str
    event_id: str
    source: bytes  # the stored (canonical) event, sent as is


@dataclass(frozen=True)
class DeadLetter:
    doc: Doc
    status: int
    error_type: str
    reason: str


@dataclass
class BulkOutcome:
    stored: int = 0
    duplicates: int = 0
    retry: list[Doc] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    retry_statuses: dict[int, int] = field(default_factory=dict)


def body(docs: list[Doc]) -> bytes:
    """NDJSON bulk body; the event bytes are not re-serialised."""
    parts = []
    for doc in docs:
        parts.append(orjson.dumps({"create": {"_index": doc.stream, "_id": doc.event_id}}))
        parts.append(doc.source)
    return b"\n".join(parts) + b"\n"


def classify(docs: list[Doc], reply: dict) -> BulkOutcome:
    """Sort a ``_bulk`` reply's items (same order as ``docs``)."""
    items = reply.get("items")
    if not isinstance(items, list) or len(items) != len(docs):
        raise ValueError(
            f"bulk reply has {len(items) if isinstance(items, list) else 'no'} items for {len(docs)} documents"
        )
    outcome = BulkOutcome()
    for doc, item in zip(docs, items, strict=True):
        (result,) = item.values()
        status = int(result.get("status", 0))
        if status in (200, 201):
            outcome.stored += 1
        elif status == 409:
            outcome.duplicates += 1
        elif status == 429 or status >= 500:
            outcome.retry.append(doc)
            outcome.retry_statuses[status] = outcome.retry_statuses.get(status, 0) + 1
        else:
            error = result.get("error") or {}
            if isinstance(error, str):
                error = {"type": "error", "reason": error}
            outcome.dead.append(
                DeadLetter(doc, status, str(error.get("type", "unknown")), str(error.get("reason", ""))[:1000])
            )
    return outcome
