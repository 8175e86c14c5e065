"""Admission of a verified batch (pure): per-event checks, stamping, deduplication."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from auditseal.errors import Rejected
from auditseal.event import REQUIRED_FROM_AGENT, missing_fields, normalise_ts
from auditseal.tls import PeerIdentity
from auditseal.wire import BatchHeader

TENANT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def admit(identity: PeerIdentity, header: BatchHeader, lines: list[bytes], events: list[dict]
          ) -> list[tuple[int, str, bytes]]:
    """Check every event of a batch; return (sequence, tenant, line as sent), in order.

    The whole batch is refused when any event is wrong: a batch is the agent's unit of
    retry and dead-lettering, and partial acceptance would punch holes in its stream.
    Lines are not rewritten here (see ``stored.materialise``).
    """
    if not events:
        raise Rejected("empty_batch", "batch holds no events", 400)
    out: list[tuple[int, str, bytes]] = []
    previous = header.first_seq - 1
    allowed = {t for t in identity.tenants if TENANT_RE.match(t)}
    for number, (line, doc) in enumerate(zip(lines, events), 1):
        try:
            event = doc["event"]
            agent, tenant = doc["agent"]["id"], doc["organization"]["id"]
            seq, stamp = event["sequence"], doc["@timestamp"]
            present = bool(event["action"] and event["category"] and event["outcome"]
                           and event["created"] and stamp)
        except (KeyError, TypeError):
            present = False
        if not present:
            missing = missing_fields(doc, REQUIRED_FROM_AGENT) or ["a well-formed agent, event or organization"]
            raise Rejected("missing_field", f"event {number}: missing {', '.join(missing)}", 400)
        if agent != identity.agent_id:
            raise Rejected("agent_mismatch", f"event {number}: agent.id {agent!r} is not the "
                                             f"certificate's agent", 403)
        if tenant not in allowed:
            if not isinstance(tenant, str) or not TENANT_RE.match(tenant):
                raise Rejected("bad_tenant", f"event {number}: malformed organization.id", 400)
            raise Rejected("tenant_not_allowed",
                           f"event {number}: agent {identity.agent_id!r} may not write for "
                           f"tenant {tenant!r}", 403)
        if type(seq) is not int or seq <= previous:
            raise Rejected("bad_sequence", f"event {number}: event.sequence must increase", 400)
        if seq > header.last_seq:
            raise Rejected("bad_sequence", f"event {number}: sequence {seq} outside batch "
                                           f"{header.batch}", 400)
        if normalise_ts(stamp) != stamp:
            raise Rejected("bad_timestamp", f"event {number}: @timestamp must be canonical UTC "
                                            f"(YYYY-MM-DDTHH:MM:SS.ffffffZ)", 400)
        previous = seq
        out.append((seq, tenant, line))
    return out


def by_tenant(events: list[tuple[int, str, bytes]]) -> dict[str, list[tuple[int, bytes]]]:
    """Group admitted events per tenant, keeping their order (one journal record each)."""
    groups: dict[str, list[tuple[int, bytes]]] = {}
    for seq, tenant, line in events:
        groups.setdefault(tenant, []).append((seq, line))
    return groups


@dataclass
class Dedupe:
    """Exact deduplication on (agent, sequence): one agent's stream arrives in order, so the
    highest stored sequence per agent decides; a resent batch adds nothing."""

    high: dict[str, int] = field(default_factory=dict)

    def fresh(self, agent: str, events: list[tuple]) -> list[tuple]:
        """The events (sequence first) this agent has not had stored yet."""
        mark = self.high.get(agent, 0)
        return [e for e in events if e[0] > mark]

    def stored(self, agent: str, last_seq: int) -> int:
        self.high[agent] = max(self.high.get(agent, 0), last_seq)
        return self.high[agent]

    def acked(self, agent: str) -> int:
        return self.high.get(agent, 0)
