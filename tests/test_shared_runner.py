"""The shared-consumer worker (``sinks.shared_runner``) against a scripted journal: what it
acknowledges, what it hands back, and that a fetch holding only set-aside messages is
acknowledged and passed, never the end of the worker."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from collector.journal.base import Cursor, Entry
from collector.sinks.base import SinkUnavailable
from collector.sinks.shared_runner import SharedSinkRunner
from tests.integrity_corpus import journal_batches


class Counter:
    def __init__(self):
        self.n = 0

    def labels(self, *_):
        return self

    def inc(self, n=1):
        self.n += n


def message(seq: int, delivered: int = 1):
    return SimpleNamespace(metadata=SimpleNamespace(num_delivered=delivered), seq=seq)


class ScriptedJournal:
    def __init__(self, fetches):
        self.fetches = list(fetches)
        self.settled: list[tuple[list[int], bool]] = []

    async def shared_fetch(self, name):
        if not self.fetches:
            await asyncio.sleep(0.01)
            return []
        return self.fetches.pop(0)

    async def settle(self, msgs, stored, retry_in=1.0):
        self.settled.append(([m.seq for m in msgs], stored))


class Sink:
    name = "index"
    quarantine = None

    def __init__(self, fail_first: bool = False):
        self.batches = []
        self.fail_first = fail_first

    async def open(self):
        return None

    async def process(self, batch):
        if self.fail_first:
            self.fail_first = False
            raise SinkUnavailable("elasticsearch: down")
        self.batches.append((batch.count, batch.replay))


def entries(seq: int) -> list[Entry]:
    records = journal_batches([("acme", 3)])[0]
    return [Entry(Cursor("nats", (seq, 0)), records[0][1].payload)]


async def run_until(runner, journal, done):
    task = asyncio.create_task(runner.run())
    for _ in range(300):
        if done():
            break
        await asyncio.sleep(0.01)
    runner.stop()
    await asyncio.wait_for(task, 5)


def test_set_aside_only_fetches_are_acknowledged_and_the_worker_goes_on():
    journal = ScriptedJournal([[(message(1), [])], [(message(2), entries(2))]])
    sink = Sink()
    runner = SharedSinkRunner(journal, sink, SimpleNamespace(sink_events=Counter()))
    asyncio.run(run_until(runner, journal, lambda: len(journal.settled) >= 2))
    assert journal.settled == [([1], True), ([2], True)]
    assert sink.batches == [(3, False)]


def test_a_failed_store_hands_the_messages_back_and_a_redelivery_is_a_replay():
    journal = ScriptedJournal([[(message(5), entries(5))], [(message(5, delivered=2), entries(5))]])
    sink = Sink(fail_first=True)
    runner = SharedSinkRunner(journal, sink, SimpleNamespace(sink_events=Counter()))
    runner._pause = lambda seconds: asyncio.sleep(0)  # (no 2 s back-off in a unit test)
    asyncio.run(run_until(runner, journal, lambda: len(journal.settled) >= 2))
    assert journal.settled == [([5], False), ([5], True)]
    assert sink.batches == [(3, True)]
