"""Quarantine: the file's fold, and sinks that set one event aside and go on."""

import sqlite3

import orjson
import pytest

from auditseal.formats.note import Signer
from auditseal.storage import archive
from auditseal.storage.segments import Position
from collector.journal import BatchMeta
from collector.sinks.base import SinkUnavailable
from collector.sinks.index_process import IndexProcess
from collector.sinks.quarantine import Poison, Quarantine, fold, is_poison
from collector.sinks.sealer import Sealer
from collector.sinks.sqlite_index import SqliteIndex
from collector.sinks.sqlite_search import total as count
from tests.journal_helpers import cursor_at, journal_batch
from tests.test_collector_sinks import batch, event

META = BatchMeta("web-1", "acme", "2026-11-28T10:00:01.000000Z")


def poison(seq):
    """A line no admission would let through (a collector of an older version wrote it)."""
    return orjson.dumps(
        {
            "@timestamp": "2026-11-28T10:00:00.000000Z",
            "organization": {"id": "acme"},
            "agent": {"id": "web-1"},
            "user": {"name": {"first": "x"}},
            "event": {"action": "a", "category": ["iam"], "outcome": "success", "sequence": seq},
        }
    )


@pytest.mark.parametrize(
    "exc, expected",
    [
        (ValueError("x"), True),
        (TypeError("x"), True),
        (OverflowError("x"), True),
        (KeyError("x"), True),
        (sqlite3.InterfaceError("x"), True),
        (Poison("mapping"), True),
        (OSError("disk"), False),
        (sqlite3.OperationalError("database is locked"), False),
        (ConnectionError("down"), False),
        (TimeoutError(), False),
    ],
)
def test_poison_is_told_from_a_store_that_is_down_by_type(exc, expected):
    assert is_poison(exc) is expected


def test_fold_keeps_open_entries_and_the_pending_retry():
    q = {"kind": "quarantined", "event_id": "a"}
    assert fold([q, {**q, "event_id": "b"}]) == ([q, {**q, "event_id": "b"}], None)
    assert fold([q, {"kind": "retry", "event_ids": ["a"]}])[1] == {"a"}
    assert fold([q, {"kind": "retry", "event_ids": ["a"]}, {"kind": "retry", "event_ids": []}])[1] == set()
    assert fold(
        [q, {"kind": "retry", "event_ids": []}, {"kind": "resolved", "event_id": "a"}, {"kind": "retried"}]
    ) == ([], None)
    assert fold([q, q]) == ([q], None), "a replay quarantining again adds nothing"


@pytest.fixture(params=["thread", "process"])
def index_kind(request):
    """The SQLite index on the collector's thread, and in its worker process (the default)."""
    made = []

    def make(path, box):
        made.append(SqliteIndex(path, box) if request.param == "thread" else IndexProcess(path, box))
        return made[-1]

    yield make
    for index in made:
        index.close()


def stored(index, batch) -> None:
    """Hand ``batch`` to the sink and wait until it is stored (the worker process has one
    batch in flight: ``checkpoint`` collects it)."""
    index.process(batch)
    getattr(index, "checkpoint", lambda: None)()


def test_the_index_quarantines_the_row_it_cannot_hold_and_stores_the_rest(tmp_path, index_kind):
    seen = []
    box = Quarantine(tmp_path / "q", "index", seen.append)
    index = index_kind(tmp_path / "i.sqlite", box)
    index.open()
    records = [batch(0, [event(1), poison(2), event(3)])]
    stored(index, journal_batch(records, Position(1, 500)))
    assert count(tmp_path / "i.sqlite") == 2
    assert index.open() == cursor_at(Position(1, 500)), "the cursor moved past the poison"
    [entry] = box.open_entries()
    assert (
        entry["seq"] == 2 and entry["sink"] == "index" and entry["error_type"] in ("InterfaceError", "ProgrammingError")
    )
    assert len(seen) == 1 and seen[0].event_id == entry["event_id"]
    # A replay of the same records quarantines the same entry, stores nothing twice.
    stored(index, journal_batch(records, Position(1, 500)))
    assert count(tmp_path / "i.sqlite") == 2 and len(box.open_entries()) == 1
    # A retry that still fails leaves it open.
    assert index.retry([box.entry_input(entry)]) == []
    index.close()


def test_a_store_that_is_down_is_raised_not_quarantined(tmp_path, index_kind):
    box = Quarantine(tmp_path / "q", "index")
    index = index_kind(tmp_path / "i.sqlite", box)
    index.open()
    sqlite3.connect(tmp_path / "i.sqlite").execute("DROP TABLE events")  # the store is broken, not the event
    with pytest.raises(SinkUnavailable, match="no such table: events"):  # the runner retries it from the cursor
        stored(index, journal_batch([batch(0, [event(1)])], Position(1, 100)))
    assert box.open_entries() == []


def test_the_sealer_quarantines_what_it_cannot_materialise_and_seals_the_rest(tmp_path):
    signer = Signer.generate("auditseal.test")
    box = Quarantine(tmp_path / "q", "archive")
    sealer = Sealer(archive.LocalStore(tmp_path / "archive"), tmp_path / "sealer", signer, signer.name, quarantine=box)
    sealer.open()
    sealer.process(journal_batch([batch(0, [event(1), b'{"event": "not an object"}', event(3)])], Position(1, 500)))
    assert sealer.states["acme/0"].size == 2
    [entry] = box.open_entries()
    assert entry["seq"] is None and entry["error_type"] == "TypeError"
