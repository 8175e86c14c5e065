"""The sink port: what the runner hands a sink and what a sink may raise.

The runner reads the journal, materialises each event once (``stored``) and hands the sink a
``Batch``: the events with the cursor of the record each came in, the lines that could not
be materialised, and the cursor after the batch. The sink stores them and durably records
``end`` (its own cursor, as ``Cursor.encode()`` text) — the runner persists nothing.

Errors, by what the runner does next:

- ``SinkUnavailable`` (a ``Retryable``): the sink's store is down or refuses for now; the
  runner pauses and replays from the sink's durable cursor. Each sink translates its store's
  own exceptions (sqlite3, OSError, the Elasticsearch client, boto3) into it at its boundary.
- ``Halt``: the program cannot go on as configured.
- One event the store cannot take for its content is not raised: the sink quarantines it
  (``quarantine``) and goes on.
- Anything else is a defect: the runner logs it with its traceback, counts it, and retries
  after a longer pause (nothing is ever skipped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from auditseal.errors import Retryable

from ..journal import BatchMeta, Cursor
from .quarantine import Quarantine


class SinkUnavailable(Retryable):
    """The sink's store cannot take writes now; retried from the sink's cursor."""


@dataclass(frozen=True)
class StoredEvent:
    cursor: Cursor  # the journal record it came in
    meta: BatchMeta
    line: bytes  # as journaled (what a quarantine keeps)
    doc: dict  # materialised (``stored.materialise``)
    stored: bytes  # its canonical bytes: what the index holds and the archive seals


@dataclass(frozen=True)
class Unreadable:
    cursor: Cursor
    meta: BatchMeta
    line: bytes
    error: Exception


@dataclass
class Batch:
    events: list[StoredEvent]
    end: Cursor  # the cursor after the last record: the sink's new cursor once stored
    unreadable: list[Unreadable] = field(default_factory=list)


class Sink(Protocol):
    name: str
    quarantine: Quarantine | None  # where events it cannot store go (None: it raises instead)

    def open(self) -> Cursor | None:
        """Where this sink has durably processed up to (None: from the journal's start)."""

    def process(self, batch: Batch) -> None:
        """Store ``batch.events``; durably record ``batch.end`` as the new cursor."""

    def retry(self, items: list[tuple[BatchMeta, bytes]]) -> list[str]:
        """Store quarantined events again; the event ids now stored."""

    def close(self) -> None: ...

    # open/process/retry/close may also be coroutine functions (the Elasticsearch sink's are).
