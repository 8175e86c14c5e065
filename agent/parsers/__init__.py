"""Parsers: lines of one input → ECS events, chosen per input by ``format``.

A parser takes the complete lines of one read and returns the events, the lines it
refuses (dead letters, with a reason), and how many lines it consumed: a multi-line
record still incomplete at the end of a read (an auditd event waiting for its EOE) is
left unconsumed, so its offset is not committed and it is read again whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

from auditseal.errors import Rejected

from ..lines import Line
from ..normalise import Source


@dataclass
class Parsed:
    events: list[dict] = field(default_factory=list)
    rejected: list[tuple[Line, Rejected]] = field(default_factory=list)
    consumed: int = 0  # lines consumed, from the start


class Parser(Protocol):
    def parse(self, lines: list[Line], source: Source, created: str, final: bool) -> Parsed: ...


REGISTRY: dict[str, Callable[..., Parser]] = {}  # name → factory(input config)


def register(name: str):
    def wrap(factory):
        REGISTRY[name] = factory
        return factory
    return wrap


def original(line: bytes) -> str:
    """The line as text; invalid UTF-8 is kept, escaped, never a crash."""
    return line.decode("utf-8", "backslashreplace")
