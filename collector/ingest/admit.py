"""Admission of a verified batch (pure): per-event checks, stamping, deduplication."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from auditseal.errors import Rejected
from auditseal.formats.event import REQUIRED_FROM_AGENT, canonical_bytes
from auditseal.formats.storable import MAX_EVENT_BYTES, TENANT_RE, check
from auditseal.formats.wire import BatchHeader
from auditseal.tls import PeerIdentity

# What the collector checks per event beyond the agent's own fields.
REQUIRED = REQUIRED_FROM_AGENT


@dataclass(frozen=True)
class Refused:
    seq: int
    reason: str
    message: str


def admit(
    identity: PeerIdentity,
    header: BatchHeader,
    lines: list[bytes],
    events: list[dict],
    now: str,
    max_event_bytes: int = MAX_EVENT_BYTES,
) -> tuple[list[tuple[int, str, bytes]], list[Refused]]:
    """Check every event of a batch; return (sequence, tenant, line) in order, and the refusals.

    What is wrong with the batch as a unit (no events, an event without a usable sequence
    number, sequences out of order or outside the signed range, another agent's events)
    refuses the whole batch: the batch is the agent's unit of retry. What is wrong with one
    event's content (``auditseal.formats.storable``, tenant outside the certificate) refuses that
    event alone: its place in the agent's stream is taken by an ``event_rejected`` record
    (``rejection_event``) in the tenant's log, so the refusal is sealed and no gap appears.
    Lines are not rewritten here (see ``sinks.stored.materialise``).
    """
    if not events:
        raise Rejected("empty_batch", "batch holds no events")
    allowed = sorted(t for t in identity.tenants if TENANT_RE.fullmatch(t))
    out: list[tuple[int, str, bytes]] = []
    refused: list[Refused] = []
    previous = header.first_seq - 1
    for number, (line, doc) in enumerate(zip(lines, events, strict=True), 1):
        event = doc.get("event")
        seq = event.get("sequence") if type(event) is dict else None
        if type(seq) is not int or seq <= previous:
            raise Rejected("bad_sequence", f"event {number}: event.sequence must increase")
        if seq > header.last_seq:
            raise Rejected("bad_sequence", f"event {number}: sequence {seq} outside batch {header.batch}")
        agent = doc.get("agent")
        if type(agent) is not dict or agent.get("id") != identity.agent_id:
            raise Rejected("agent_mismatch", f"event {number}: agent.id is not the certificate's agent")
        previous = seq
        org = doc.get("organization")
        tenant = org.get("id") if type(org) is dict else None
        try:
            check(doc, REQUIRED, len(line), max_event_bytes)
            if tenant not in allowed:
                raise Rejected(
                    "tenant_not_allowed", f"agent {identity.agent_id!r} may not write for tenant {str(tenant)[:128]!r}"
                )
        except Rejected as exc:
            if not allowed:
                raise Rejected("tenant_not_allowed", "the certificate names no tenant") from exc
            home = tenant if tenant in allowed else allowed[0]
            refused.append(Refused(seq, exc.reason, str(exc)))
            out.append(
                (
                    seq,
                    home,
                    canonical_bytes(rejection_event(identity.agent_id, seq, home, exc.reason, str(exc), line, now)),
                )
            )
            continue
        out.append((seq, tenant, line))
    return out, refused


def rejection_event(agent: str, seq: int, tenant: str, reason: str, message: str, line: bytes, now: str) -> dict:
    """The record that takes a refused event's place in its agent's stream: who sent it, why
    it was refused and the hash of what was sent — never the refused content itself."""
    return {
        "@timestamp": now,
        "event": {
            "action": "event_rejected",
            "kind": "pipeline_error",
            "category": ["host"],
            "type": ["denied"],
            "outcome": "failure",
            "reason": message[:1000],
            "sequence": seq,
            "created": now,
        },
        "organization": {"id": tenant},
        "agent": {"id": agent},
        "message": f"event {seq} of agent {agent} refused by the collector: {reason}",
        "auditseal": {"rejected": {"reason": reason, "sha256": hashlib.sha256(line).hexdigest(), "bytes": len(line)}},
    }


def by_tenant(events: list[tuple[int, str, bytes]]) -> dict[str, list[tuple[int, bytes]]]:
    """Group admitted events per tenant, keeping their order (one journal record each)."""
    groups: dict[str, list[tuple[int, bytes]]] = {}
    for seq, tenant, line in events:
        groups.setdefault(tenant, []).append((seq, line))
    return groups
