"""The ingest decision (pure): a verified batch, the agent's mark and the collector's own
stream mark in; the journal writes, the answer and what to count out.

Per batch: admission per event (``admit``: refusals take their events' places as
``event_rejected`` records); events at or below the agent's mark are duplicates (a resend);
the fresh ones become one journal record per tenant; holes in the agent's sequence after its
mark become ``sequence_gap`` events in the collector's own stream, numbered from
``own_mark``, journaled together with the batch. A batch sent behind another one
(``follows``) waits for it: refused ``too_early`` until the mark reaches it. Refusals are told to the agent only for
fresh events (a resend was told with the first answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from auditseal.errors import Rejected
from auditseal.formats.storable import MAX_EVENT_BYTES
from auditseal.formats.wire import BatchHeader
from auditseal.tls import PeerIdentity

from ..journal import BatchMeta, Write, encode_batch
from ..journal.own_stream import own_writes
from .admit import Refused, admit, by_tenant
from .gaps import declared, find_holes, gap_event


@dataclass(frozen=True)
class Hole:
    first: int
    last: int
    declared: bool


@dataclass(frozen=True)
class Acceptance:
    writes: list[Write]  # the batch's records (one per tenant), then its gap events
    accepted: int  # fresh events stored as sent
    duplicates: int
    told: list[Refused]  # fresh events refused (an event_rejected record stands in for each)
    holes: list[Hole]
    acked_seq: int  # the agent's mark once ``writes`` are stored

    def answer(self) -> dict:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "acked_seq": self.acked_seq,
            "rejected": [{"seq": r.seq, "reason": r.reason, "error": r.message} for r in self.told],
            # This collector holds a batch sent behind another (``Auditseal-Follows``) until
            # that one is stored: the agent may keep several batches in flight.
            "pipelining": True,
        }


def accept(
    identity: PeerIdentity,
    header: BatchHeader,
    lines: list[bytes],
    events: list[dict],
    agent_mark: int,
    own_agent: str,
    own_mark: int,
    now: str,
    max_event_bytes: int = MAX_EVENT_BYTES,
) -> Acceptance:
    """Raises ``Rejected`` for what refuses the whole batch (see ``admit``), and ``too_early``
    for a batch sent behind one not stored yet (its agent resends it once that one is)."""
    if header.follows is not None and agent_mark < header.follows:
        raise Rejected(
            "too_early",
            f"batch {header.batch} follows sequence {header.follows}; stored through {agent_mark} so far",
        )
    admitted, refused = admit(identity, header, lines, events, now, max_event_bytes)
    fresh = [e for e in admitted if e[0] > agent_mark]
    writes = [
        Write(
            header.agent, group[-1][0], encode_batch(BatchMeta(header.agent, tenant, now), [line for _, line in group])
        )
        for tenant, group in by_tenant(fresh).items()
    ]
    holes = find_holes(agent_mark, [seq for seq, _, _ in fresh])
    writes += own_writes(
        own_agent,
        own_mark,
        [
            (
                fresh[at][1],
                partial(
                    gap_event,
                    own_agent,
                    tenant=fresh[at][1],
                    agent=header.agent,
                    first=a,
                    last=b,
                    is_declared=declared(a, b, header.gaps),
                    now=now,
                ),
            )
            for a, b, at in holes
        ],
        now,
    )
    fresh_seqs = {seq for seq, _, _ in fresh} if refused else set()
    told = [r for r in refused if r.seq in fresh_seqs]
    return Acceptance(
        writes,
        len(fresh) - len(told),
        len(admitted) - len(fresh),
        told,
        [Hole(a, b, declared(a, b, header.gaps)) for a, b, _ in holes],
        fresh[-1][0] if fresh else agent_mark,
    )
