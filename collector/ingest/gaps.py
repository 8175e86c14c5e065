"""Sequence gaps in an agent's stream (pure): finding them and the event that records one."""

from __future__ import annotations

from auditseal.formats.event import event_id


def find_holes(high: int, seqs: list[int]) -> list[tuple[int, int, int]]:
    """(first, last, index of the event after the hole) for every hole after ``high``."""
    holes, expected = [], high + 1
    for index, seq in enumerate(seqs):
        if seq > expected:
            holes.append((expected, seq - 1, index))
        expected = seq + 1
    return holes


def declared(first: int, last: int, gaps: tuple[tuple[int, int], ...]) -> bool:
    """Whether the agent declared every sequence number of the hole as lost."""
    covered: set[int] = set()
    for a, b in gaps:
        covered.update(range(max(a, first), min(b, last) + 1))
    return len(covered) == last - first + 1


def gap_event(
    own_agent: str, sequence: int, tenant: str, agent: str, first: int, last: int, is_declared: bool, now: str
) -> dict:
    reason = (
        "the agent declared these events lost (spool damage)"
        if is_declared
        else "events missing from the agent's stream, not declared by the agent"
    )
    return {
        "@timestamp": now,
        "event": {
            "action": "sequence_gap",
            "kind": "alert",
            "category": ["host"],
            "type": ["info"],
            "outcome": "failure",
            "reason": reason,
            "sequence": sequence,
            "created": now,
            "id": event_id(own_agent, sequence),
        },
        "organization": {"id": tenant},
        "agent": {"id": own_agent},
        "message": f"sequence gap {first}-{last} from agent {agent} ({'declared' if is_declared else 'undeclared'})",
        "labels": {
            "gap_agent": agent,
            "gap_first": first,
            "gap_last": last,
            "gap_events": last - first + 1,
            "gap_declared": is_declared,
        },
    }
