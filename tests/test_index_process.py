"""The SQLite index in its worker process: the rows are written there, a worker that dies is
replaced and the batch replayed (nothing lost, nothing twice), a quarantine the collector
cannot write rolls the batch back, and closing leaves no process behind."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import pytest

from auditseal.storage.segments import Position
from collector.journal import BatchMeta
from collector.sinks.base import SinkUnavailable
from collector.sinks.index_process import IndexProcess, IndexWorkerDefect
from collector.sinks.quarantine import Quarantine
from tests.journal_helpers import cursor_at, journal_batch
from tests.test_collector_sinks import batch, event
from tests.test_quarantine import poison


@pytest.fixture
def index(tmp_path):
    made = IndexProcess(tmp_path / "i.sqlite", Quarantine(tmp_path / "q", "index"))
    yield made
    made.close()


def stored(path) -> list[tuple[str, int]]:
    return sqlite3.connect(path).execute("SELECT agent_id, seq FROM events ORDER BY seq").fetchall()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_rows_are_written_by_a_worker_process_and_a_replay_stores_nothing_twice(index, tmp_path):
    assert index.open() is None
    worker = index.pid
    assert worker is not None and worker != os.getpid()
    first = batch(8, [event(1), event(2)])
    second = batch(first[1].end, [event(3)])
    index.process(journal_batch([first], Position(1, first[1].end)))
    index.process(journal_batch([first, second], Position(1, second[1].end)))  # a replay
    assert stored(tmp_path / "i.sqlite") == [("web-1", 1), ("web-1", 2), ("web-1", 3)]
    assert index.pid == worker, "one worker for the sink's life"
    index.close()
    assert not alive(worker)
    again = IndexProcess(tmp_path / "i.sqlite")
    try:
        assert again.open() == cursor_at(Position(1, second[1].end)), "the cursor is the worker's, in the index"
    finally:
        again.close()


def test_a_worker_killed_is_reported_unavailable_then_replaced_and_the_replay_lands_once(index, tmp_path):
    index.open()
    first = batch(8, [event(1), event(2)])
    index.process(journal_batch([first], Position(1, first[1].end)))
    old = index.pid
    os.kill(old, signal.SIGKILL)
    second = batch(first[1].end, [event(3), event(4)])
    with pytest.raises(SinkUnavailable, match=r"worker process ended \(-9\); restarting it"):
        index.process(journal_batch([second], Position(1, second[1].end)))
    # The runner replays from its cursor: the same records and more, to a new worker.
    third = batch(second[1].end, [event(5)])
    index.process(journal_batch([first, second, third], Position(1, third[1].end)))
    assert index.pid not in (None, old)
    assert [seq for _, seq in stored(tmp_path / "i.sqlite")] == [1, 2, 3, 4, 5]


def test_the_worker_outlives_the_signals_a_terminal_or_systemd_sends_the_group(index, tmp_path):
    """Only the collector stops it, after its own orderly stop: a SIGTERM to the group must not
    cut a transaction the collector is waiting on."""
    index.open()
    worker = index.pid
    os.kill(worker, signal.SIGTERM)
    os.kill(worker, signal.SIGINT)
    time.sleep(0.3)
    assert alive(worker)
    index.process(journal_batch([batch(8, [event(1)])], Position(1, 200)))
    assert index.pid == worker and len(stored(tmp_path / "i.sqlite")) == 1


def test_a_quarantine_the_collector_cannot_write_rolls_the_batch_back(tmp_path):
    box = Quarantine(tmp_path / "q", "index")
    index = IndexProcess(tmp_path / "i.sqlite", box)
    try:
        index.open()
        box.path.parent.mkdir(parents=True, exist_ok=True)
        box.path.mkdir()  # where the quarantine file goes: writing it fails (OSError)
        records = [batch(8, [event(1), poison(2), event(3)])]
        with pytest.raises(SinkUnavailable, match="could not quarantine"):
            index.process(journal_batch(records, Position(1, 500)))
        assert stored(tmp_path / "i.sqlite") == [], "nothing of the batch is kept: it is retried whole"
        assert index.open() is None, "the cursor did not move"
        box.path.rmdir()
        index.process(journal_batch(records, Position(1, 500)))
        assert [seq for _, seq in stored(tmp_path / "i.sqlite")] == [1, 3]
        [entry] = box.open_entries()
        assert entry["seq"] == 2 and entry["error_type"] in ("InterfaceError", "ProgrammingError")
    finally:
        index.close()


def test_an_error_no_sink_should_raise_comes_back_with_the_workers_traceback(index):
    index.open()
    with pytest.raises(IndexWorkerDefect, match=r"(?s)AttributeError: .*Traceback .*sqlite_index\.py"):
        index.retry([("not a BatchMeta", event(6))])  # type: ignore[list-item]
    # The worker goes on serving.
    assert index.retry([(BatchMeta("web-1", "acme", "2026-11-28T10:00:01.000000Z"), event(7))]) != []
