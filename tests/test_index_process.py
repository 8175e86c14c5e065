"""The SQLite index in its worker process: the rows are written there, one batch in flight
(``process`` returns the durable cursor; the next call collects the answer), a worker that
dies is replaced and the runner told where to replay from (nothing lost, nothing twice), a
quarantine the collector cannot write rolls the batch back, and closing leaves no process."""

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


def store(index: IndexProcess, batch) -> None:
    index.process(batch)
    index.checkpoint()


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
    store(index, journal_batch([first], Position(1, first[1].end)))
    store(index, journal_batch([first, second], Position(1, second[1].end)))  # a replay
    assert stored(tmp_path / "i.sqlite") == [("web-1", 1), ("web-1", 2), ("web-1", 3)]
    assert index.pid == worker, "one worker for the sink's life"
    index.close()
    assert not alive(worker)
    again = IndexProcess(tmp_path / "i.sqlite")
    try:
        assert again.open() == cursor_at(Position(1, second[1].end)), "the cursor is the worker's, in the index"
    finally:
        again.close()


def test_one_batch_in_flight_and_process_answers_what_is_durable(index, tmp_path):
    """The runner releases the journal only up to what ``process`` returns: the start of the
    batch just sent (everything before it is stored), then each answered batch's end."""
    index.open()
    first = batch(8, [event(1)])
    second = batch(first[1].end, [event(2)])
    third = batch(second[1].end, [event(3)])
    assert index.process(journal_batch([first], Position(1, first[1].end))) == cursor_at(Position(1, 8))
    assert index.process(journal_batch([second], Position(1, second[1].end))) == cursor_at(Position(1, first[1].end))
    assert index.process(journal_batch([third], Position(1, third[1].end))) == cursor_at(Position(1, second[1].end))
    assert index.checkpoint() == cursor_at(Position(1, third[1].end))
    assert [seq for _, seq in stored(tmp_path / "i.sqlite")] == [1, 2, 3]


def one_stored_then_one_failing_in_flight(index: IndexProcess, tmp_path) -> tuple:
    """The first batch stored; the second sent, and bound to fail (its table is gone)."""
    index.open()
    first = batch(8, [event(1)])
    store(index, journal_batch([first], Position(1, first[1].end)))
    sqlite3.connect(tmp_path / "i.sqlite").execute("DROP TABLE events")
    second = batch(first[1].end, [event(2)])
    index.process(journal_batch([second], Position(1, second[1].end)))
    return first, second


def test_a_batch_in_flight_that_fails_makes_the_next_call_replay_from_the_durable_cursor(index, tmp_path):
    first, second = one_stored_then_one_failing_in_flight(index, tmp_path)
    with pytest.raises(SinkUnavailable, match="no such table") as failed:
        index.process(journal_batch([batch(second[1].end, [event(3)])], Position(1, 900)))
    assert failed.value.replay_from == cursor_at(Position(1, first[1].end)), "the failed batch is read again"


def test_a_worker_killed_is_reported_unavailable_then_replaced_and_the_replay_lands_once(index, tmp_path):
    index.open()
    first = batch(8, [event(1), event(2)])
    store(index, journal_batch([first], Position(1, first[1].end)))
    old = index.pid
    os.kill(old, signal.SIGKILL)
    time.sleep(0.2)
    second = batch(first[1].end, [event(3), event(4)])
    with pytest.raises(SinkUnavailable, match=r"worker process ended \(-9\); restarting it") as ended:
        store(index, journal_batch([second], Position(1, second[1].end)))  # raised by the send or the answer
    assert ended.value.replay_from == cursor_at(Position(1, first[1].end))
    # The runner replays from there: the same records and more, to a new worker.
    third = batch(second[1].end, [event(5)])
    store(index, journal_batch([second, third], Position(1, third[1].end)))
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
    store(index, journal_batch([batch(8, [event(1)])], Position(1, 200)))
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
            store(index, journal_batch(records, Position(1, 500)))
        assert stored(tmp_path / "i.sqlite") == [], "nothing of the batch is kept: it is retried whole"
        assert index.open() is None, "the cursor did not move"
        box.path.rmdir()
        store(index, journal_batch(records, Position(1, 500)))
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


def test_the_runner_replays_what_a_killed_worker_had_in_hand_and_every_event_lands_once(tmp_path):
    """The sink runner on a real local journal: workers killed while batches flow (with one in
    flight, or idle, when the runner's checkpoint finds it gone); the runner reads again from
    the cursor it is given, and the index ends with every event once."""
    import asyncio

    from collector.journal import Write, encode_batch
    from collector.journal.local import LocalJournal
    from collector.metrics import CollectorMetrics
    from collector.sinks.runner import SinkRunner

    meta = BatchMeta("web-1", "acme", "2026-11-28T10:00:01.000000Z")
    index = IndexProcess(tmp_path / "i.sqlite", Quarantine(tmp_path / "q", "index"))

    async def go():
        journal = LocalJournal(tmp_path / "journal", 64 * 1024)
        journal.open()
        runner = SinkRunner(journal, index, CollectorMetrics(), poll=0.05)
        task = asyncio.create_task(runner.run())
        seq, killed = 0, 0
        for round_ in range(12):
            for _ in range(5):
                await journal.append(
                    [Write("web-1", seq + 20, encode_batch(meta, [event(seq + i + 1) for i in range(20)]))]
                )
                seq += 20
            await asyncio.sleep(0.02 if round_ % 2 else 0.3)  # now mid-stream, now caught up
            if index.pid is not None:
                os.kill(index.pid, signal.SIGKILL)
                killed += 1
        for _ in range(300):
            if len(stored(tmp_path / "i.sqlite")) >= seq:
                break
            await asyncio.sleep(0.05)
        runner.stop()
        await task
        index.close()
        journal.close()
        return seq, killed

    sent, killed = asyncio.run(go())
    assert killed >= 6
    assert [s for _, s in stored(tmp_path / "i.sqlite")] == list(range(1, sent + 1))


def test_a_batch_lost_while_a_quarantine_retry_waits_for_it_is_still_replayed(index, tmp_path):
    """The runner only logs a failed quarantine retry; the batch in flight that failed under
    it must still reach the runner's next call, with where to replay from."""
    first, second = one_stored_then_one_failing_in_flight(index, tmp_path)
    with pytest.raises(SinkUnavailable, match="no such table"):
        index.retry([(BatchMeta("web-1", "acme", "2026-11-28T10:00:01.000000Z"), event(9))])
    with pytest.raises(SinkUnavailable) as lost:
        index.process(journal_batch([batch(second[1].end, [event(3)])], Position(1, 900)))
    assert lost.value.replay_from == cursor_at(Position(1, first[1].end))
