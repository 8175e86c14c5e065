"""The journal's record payload (version 1): one per tenant in each accepted batch.

Layout::

    {"agent": ..., "tenant": ..., "ingested": ...} \\n <event line> \\n <event line> ...

The head is one JSON object (its keys are the version-1 layout; a later layout adds a
``"v"`` key). Event lines are kept exactly as the agent sent them (verified, not rewritten)
so the acknowledgement path never re-serialises; sinks materialise the stored event
(``sinks.stored``) deterministically, so every replay stores the very same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass(frozen=True)
class BatchMeta:
    agent: str
    tenant: str
    ingested: str


def encode_batch(meta: BatchMeta, lines: list[bytes]) -> bytes:
    head = orjson.dumps({"agent": meta.agent, "tenant": meta.tenant, "ingested": meta.ingested})
    return head + b"\n" + b"\n".join(lines)


def batch_meta(payload: bytes) -> BatchMeta:
    head = orjson.loads(payload.partition(b"\n")[0])
    return BatchMeta(head["agent"], head["tenant"], head["ingested"])


def decode_batch(payload: bytes) -> tuple[BatchMeta, list[bytes]]:
    _, _, body = payload.partition(b"\n")
    return batch_meta(payload), body.split(b"\n") if body else []


def event_count(payload: bytes) -> int:
    """Events in a payload without decoding it: canonical JSON lines hold no raw newline."""
    return payload.count(b"\n")
