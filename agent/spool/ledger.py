"""The spool's decisions, over values (pure): record kinds, the lost ranges recovery finds,
and the resume point — the newest input positions whose events are all acknowledged."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import orjson

MAGIC = b"ASPL"
EVENT = 1
POSITIONS = 2
LEDGER_VERSION = 1


@dataclass
class Recovered:
    next_seq: int = 1
    positions: dict = field(default_factory=dict)
    acked_seq: int = 0
    torn_tail: str | None = None
    lost: list[tuple[int, int]] = field(default_factory=list)  # newly found lost ranges
    degraded: list[str] = field(default_factory=list)  # what recovery had to repair


def holes(present: list[int], after: int, before: int) -> list[tuple[int, int]]:
    """Ranges in (after, before) missing from the sorted ``present`` sequence numbers."""
    out, expected = [], after + 1
    for seq in present:
        if seq <= after:
            continue
        if seq >= before:
            break
        if seq > expected:
            out.append((expected, seq - 1))
        expected = max(expected, seq + 1)
    if expected < before:
        out.append((expected, before - 1))
    return out


class ResumeTracker:
    """The POSITIONS records a reader has passed, in order; ``resume_for(acked)`` is the newest
    whose events (every sequence before its ``next_seq``) are acknowledged."""

    def __init__(self) -> None:
        self._commits: deque[tuple[int, bytes]] = deque()  # (next_seq, payload)

    def seen(self, next_seq: int, payload: bytes) -> None:
        self._commits.append((next_seq, payload))

    def resume_for(self, acked: int) -> dict | None:
        best = None
        while self._commits and self._commits[0][0] - 1 <= acked:
            best = self._commits.popleft()
        if best is None:
            return None
        return {"next_seq": best[0], "inputs": orjson.loads(best[1])["inputs"]}
