"""Agent inputs, registered by the ``type`` in their config.

An input reads its source and hands ``Chunk``s to the pipeline; it never writes the spool
itself. Its position state is a JSON-able dict that the pipeline commits to the spool
together with the events read up to it, and hands back on start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable, Protocol


@dataclass
class DeadLetter:
    input: str
    origin: str  # file path or peer
    offset: int
    reason: str
    message: str
    line: bytes


@dataclass
class Chunk:
    input: str
    events: list[dict] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    position: dict = field(default_factory=dict)  # the input's full position state after this chunk
    size: int = 0  # bytes read for this chunk


Submit = Callable[[Chunk], Awaitable[None]]


class Input(Protocol):
    name: str

    async def run(self, submit: Submit) -> None: ...

    def stop(self) -> None: ...


REGISTRY: dict[str, Callable[..., Input]] = {}


def register(type_name: str):
    def wrap(factory):
        REGISTRY[type_name] = factory
        return factory

    return wrap
