"""The collector's own event stream: security events it raises itself (sequence gaps,
integrity failures), journaled under agent id ``collector.<id>`` with their own sequence
numbers, so they are deduplicated, indexed and sealed like any agent's events."""

from __future__ import annotations

import asyncio
from typing import Callable

from auditseal.formats.event import canonical_bytes

from .base import Journal, MarkMoved, Write
from .batch import BatchMeta, encode_batch

DocFor = Callable[[int], dict]  # sequence number → the event document


def own_writes(agent: str, after: int, items: list[tuple[str, DocFor]], ingested: str) -> list[Write]:
    """Journal writes (one per tenant) numbering ``items`` from ``after + 1`` on (pure)."""
    seq = after
    by_tenant: dict[str, list[DocFor]] = {}
    for tenant, doc_for in items:
        by_tenant.setdefault(tenant, []).append(doc_for)
    out = []
    for tenant, group in by_tenant.items():
        lines = []
        for doc_for in group:
            seq += 1
            lines.append(canonical_bytes(doc_for(seq)))
        out.append(Write(agent, seq, encode_batch(BatchMeta(agent, tenant, ingested), lines)))
    return out


class OwnStream:
    def __init__(self, journal: Journal, collector_id: str):
        self.journal = journal
        self.agent = f"collector.{collector_id}"
        self.lock = asyncio.Lock()  # held from numbering to the append (which moves the mark)

    def writes(self, items: list[tuple[str, DocFor]], ingested: str) -> list[Write]:
        """Call with ``lock`` held, and append the writes before releasing it."""
        return own_writes(self.agent, self.journal.marks.acked(self.agent), items, ingested)

    async def append(self, items: list[tuple[str, DocFor]], ingested: str) -> None:
        async with self.lock:
            for _ in range(8):  # a shared journal: this stream's mark moved (a restart elsewhere)
                await self.journal.refresh(self.agent)
                try:
                    await self.journal.append(self.writes(items, ingested))
                    return
                except MarkMoved:
                    continue
            raise MarkMoved(self.agent)
