"""Journal records as the local journal hands them out, turned into the batch the sink
runner gives a sink (decoded once, with cursors)."""

from __future__ import annotations

from auditseal.formats.records import Record
from auditseal.storage.segments import Position
from collector.journal import Entry
from collector.journal.local import cursor_at  # noqa: F401  (re-exported for tests)
from collector.sinks.base import Batch


def journal_batch(records: list[tuple[Position, Record]], end: Position) -> Batch:
    return Batch([Entry(cursor_at(position), record.payload) for position, record in records], cursor_at(end))
