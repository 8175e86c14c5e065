"""The sink port: what the runner hands a sink and what a sink may raise.

The runner reads the journal and hands the sink a ``Batch`` (``stored``): iterating it yields
each event materialised once, with the cursor of the record it came in (or, for a line that
cannot be materialised, the error), and ``end`` is the cursor after the batch. The sink stores them and durably records
``end`` (its own cursor, as ``Cursor.encode()`` text) — the runner persists nothing. A sink
that records its cursor only now and then returns the one it has recorded.

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

from typing import Protocol

from auditseal.errors import Retryable

from ..journal import BatchMeta, Cursor
from .quarantine import Quarantine
from .stored import Batch, StoredEvent

__all__ = ["Batch", "Sink", "SinkUnavailable", "StoredEvent"]


class SinkUnavailable(Retryable):
    """The sink's store cannot take writes now; retried from the sink's cursor — or from
    ``replay_from``, when the sink has gone back to an older durable state of its own."""

    def __init__(self, message: str, retry_after: float | None = None, replay_from: Cursor | None = None):
        super().__init__(message, retry_after)
        self.replay_from = replay_from


class Sink(Protocol):
    name: str
    quarantine: Quarantine | None  # where events it cannot store go (None: it raises instead)

    def open(self) -> Cursor | None:
        """Where this sink has durably processed up to (None: from the journal's start)."""

    def process(self, batch: Batch) -> Cursor | None:
        """Store the batch's events (iterate it once); durably record ``batch.end`` (None), or
        return the older cursor it has durably recorded (a sink that checkpoints its state
        now and then): the journal keeps what lies after it."""

    # Optional: ``checkpoint() -> Cursor | None``, called when the runner is caught up; a sink
    # that records its cursor now and then records it now and returns it.

    def retry(self, items: list[tuple[BatchMeta, bytes]]) -> list[str]:
        """Store quarantined events again; the event ids now stored."""

    def close(self) -> None: ...

    # open/process/retry/close may also be coroutine functions (the Elasticsearch sink's are).
