"""The journal port: ingest appends accepted batches to it, sinks read from it.

Whatever holds the journal (a local segment directory, a replicated stream) answers the
same few calls:

- ``append(writes)``: durably add records (fsynced — or replicated — before it returns),
  only those the writing agent's mark has not passed; each write advances its agent's mark.
- ``read(cursor)``: the records from a cursor on, and the cursor after them.
- ``register`` / ``release``: where each consumer stands; what every consumer has passed
  may be dropped.
- ``marks``: the highest stored sequence per agent (exact deduplication).
- ``bytes_held`` / ``full``: what the journal holds and whether its bound is reached.

A ``Cursor`` is opaque to its readers: they store its text and hand it back.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Protocol

CURSOR_VERSION = 1
_CURSOR_RE = re.compile(r"^(\d+):([a-z][a-z0-9_]*):(\d+(?:\.\d+)*)$")


@dataclass(frozen=True, order=True)
class Cursor:
    """A place in one journal, ordered within it.

    Text form (version 1): ``1:<journal kind>:<n>[.<n>...]``, e.g. ``1:local:3.145106``
    (segment 3, byte 145106 of the local journal)."""

    journal: str
    at: tuple[int, ...]

    def encode(self) -> str:
        return f"{CURSOR_VERSION}:{self.journal}:" + ".".join(str(n) for n in self.at)

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        m = _CURSOR_RE.match(text)
        if m is None:
            raise ValueError(f"not a journal cursor: {text[:80]!r}")
        if int(m.group(1)) != CURSOR_VERSION:
            raise ValueError(f"journal cursor version {m.group(1)} is not {CURSOR_VERSION}: {text[:80]!r}")
        return cls(m.group(2), tuple(int(n) for n in m.group(3).split(".")))


@dataclass(frozen=True)
class Entry:
    """One journal record: where it starts and its payload (a batch, ``journal.batch``)."""

    cursor: Cursor
    payload: bytes


@dataclass(frozen=True)
class Write:
    """A record to append: ``agent``'s events up to ``last_seq``, as one batch payload."""

    agent: str
    last_seq: int
    payload: bytes


@dataclass
class Marks:
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

    def passed(self, writes: list[Write]) -> list[Write]:
        """``writes`` without those whose agent's mark is already at or past them."""
        return [w for w in writes if w.last_seq > self.high.get(w.agent, 0)]


class MarkMoved(Exception):
    """Another collector stored this agent's events since its mark was read (a shared
    journal): read the mark again (``refresh``) and decide again."""


class Journal(Protocol):
    kind: str
    marks: Marks
    failing: str | None  # the last append's error, until one succeeds

    def open(self) -> None: ...

    async def refresh(self, agent: str, latest: bool = False) -> None:
        """Make ``marks`` hold ``agent``'s mark as the journal has it (a shared journal reads
        it from its store; the local journal has it in memory). ``latest``: a shared journal
        reads it again even when it knows one (another collector may have stored since)."""

    async def append(self, writes: list[Write]) -> None:
        """May raise ``MarkMoved`` (shared journals): nothing of the writes was stored."""

    def read(self, cursor: Cursor) -> tuple[list[Entry], Cursor]:
        """May be a coroutine function (a journal over the network)."""

    def start(self) -> Cursor: ...

    @property
    def end(self) -> Cursor: ...

    def register(self, consumer: str, cursor: Cursor) -> None: ...

    def release(self, consumer: str, cursor: Cursor) -> int: ...

    def subscribe(self) -> asyncio.Event: ...

    def bytes_held(self) -> int: ...

    def bytes_behind(self, cursor: Cursor) -> int:
        """How far a reader at ``cursor`` is behind the end (an estimate is fine)."""

    def segments_held(self) -> int: ...

    def full(self) -> bool: ...

    def close(self) -> None: ...
