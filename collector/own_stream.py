"""The collector's own event stream: security events it raises itself (sequence gaps,
integrity failures), journaled under agent id ``collector.<id>`` with their own sequence
numbers, so they are deduplicated, indexed and sealed like any agent's events."""

from __future__ import annotations

import asyncio
from typing import Callable

from auditseal.event import canonical_bytes

from .journal import BatchMeta, Journal, encode_batch

DocFor = Callable[[int], dict]  # sequence number → the event document


class OwnStream:
    def __init__(self, journal: Journal, collector_id: str):
        self.journal = journal
        self.agent = f"collector.{collector_id}"
        self.lock = asyncio.Lock()  # held from numbering to the dedupe mark

    def records(self, items: list[tuple[str, DocFor]], ingested: str) -> tuple[list[tuple[int, bytes]], int]:
        """Journal records (one per tenant) for ``items`` and the last sequence used.

        Call with ``lock`` held; after the append, ``committed(last)``."""
        seq = self.journal.dedupe.acked(self.agent)
        by_tenant: dict[str, list[DocFor]] = {}
        for tenant, doc_for in items:
            by_tenant.setdefault(tenant, []).append(doc_for)
        out = []
        for tenant, group in by_tenant.items():
            lines = []
            for doc_for in group:
                seq += 1
                lines.append(canonical_bytes(doc_for(seq)))
            out.append((seq, encode_batch(BatchMeta(self.agent, tenant, ingested), lines)))
        return out, seq

    def committed(self, last: int) -> None:
        self.journal.dedupe.stored(self.agent, last)
