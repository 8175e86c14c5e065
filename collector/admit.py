"""Admission of a verified batch (pure): per-event checks, stamping, deduplication."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from auditseal.errors import Rejected
from auditseal.event import REQUIRED_FROM_AGENT, canonical_bytes, event_id, missing_fields
from auditseal.tls import PeerIdentity
from auditseal.wire import BatchHeader

TENANT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def admit(identity: PeerIdentity, header: BatchHeader, events: list[dict], ingested: str
          ) -> list[tuple[int, bytes]]:
    """Check every event of a batch and return (sequence, canonical stored bytes), in order.

    The whole batch is refused when any event is wrong: a batch is the agent's unit of
    retry and dead-lettering, and partial acceptance would punch holes in its stream.
    """
    if not events:
        raise Rejected("empty_batch", "batch holds no events", 400)
    out: list[tuple[int, bytes]] = []
    previous = header.first_seq - 1
    for number, doc in enumerate(events, 1):
        missing = missing_fields(doc, REQUIRED_FROM_AGENT)
        if missing:
            raise Rejected("missing_field", f"event {number}: missing {', '.join(missing)}", 400)
        agent = doc["agent"]["id"]
        if agent != identity.agent_id:
            raise Rejected("agent_mismatch", f"event {number}: agent.id {agent!r} is not the "
                                             f"certificate's agent", 403)
        tenant = doc["organization"]["id"]
        if not isinstance(tenant, str) or not TENANT_RE.match(tenant):
            raise Rejected("bad_tenant", f"event {number}: malformed organization.id", 400)
        if tenant not in identity.tenants:
            raise Rejected("tenant_not_allowed",
                           f"event {number}: agent {identity.agent_id!r} may not write for "
                           f"tenant {tenant!r}", 403)
        seq = doc["event"]["sequence"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq <= previous:
            raise Rejected("bad_sequence", f"event {number}: event.sequence must increase", 400)
        if seq > header.last_seq:
            raise Rejected("bad_sequence", f"event {number}: sequence {seq} outside batch "
                                           f"{header.batch}", 400)
        previous = seq
        doc["event"]["id"] = event_id(agent, seq)
        doc["event"]["ingested"] = ingested
        out.append((seq, canonical_bytes(doc)))
    return out


@dataclass
class Dedupe:
    """Exact deduplication on (agent, sequence): one agent's stream arrives in order, so the
    highest stored sequence per agent decides; a resent batch adds nothing."""

    high: dict[str, int] = field(default_factory=dict)

    def fresh(self, agent: str, events: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        mark = self.high.get(agent, 0)
        return [e for e in events if e[0] > mark]

    def stored(self, agent: str, last_seq: int) -> int:
        self.high[agent] = max(self.high.get(agent, 0), last_seq)
        return self.high[agent]

    def acked(self, agent: str) -> int:
        return self.high.get(agent, 0)
