"""The alert sink over a real journal and alert store: crashes mid-window, mid-throttle and
right after an alert change no outcome; each alert is one audit event in its tenant's log."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3

import orjson
import pytest

from auditseal.rules.engine import Engine
from auditseal.rules.model import RuleFile
from collector.alerts import AlertStore
from collector.journal import BatchMeta, Write, decode_batch, encode_batch
from collector.journal.local import LocalJournal
from collector.metrics import CollectorMetrics
from collector.sinks.alerting import AlertSink
from collector.sinks.runner import SinkRunner

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)
RULES = RuleFile.model_validate(
    {
        "rules": [
            {
                "name": "failed-logins",
                "kind": "threshold",
                "where": {"event.category": "authentication", "event.outcome": "failure"},
                "group_by": ["source.ip"],
                "count": 5,
                "window": "10m",
                "throttle": "30m",
            }
        ]
    }
).rules


class Feed:
    """An agent's stream into the journal: each event its own record, numbered on."""

    def __init__(self, journal: LocalJournal, agent: str = "web-1"):
        self.journal, self.agent, self.seq = journal, agent, 0

    async def failures(self, minutes: list[float], ip: str = "10.0.0.9", tenant: str = "acme") -> None:
        for m in minutes:
            self.seq += 1
            doc = {
                "@timestamp": (T0 + dt.timedelta(minutes=m)).isoformat().replace("+00:00", "Z"),
                "event": {"category": ["authentication"], "outcome": "failure", "sequence": self.seq},
                "organization": {"id": tenant},
                "source": {"ip": ip},
                "user": {"name": "alice"},
            }
            meta = BatchMeta(self.agent, tenant, "2026-12-01T09:00:00Z")
            await self.journal.append([Write(self.agent, self.seq, encode_batch(meta, [orjson.dumps(doc)]))])


class Collector:
    """The alert sink under its runner, started and crashed (no clean close) at will."""

    def __init__(self, tmp_path, snapshot_every: float = 3600.0, idle_snapshots: bool = True):
        self.tmp, self.snapshot_every, self.idle_snapshots = tmp_path, snapshot_every, idle_snapshots
        self.metrics = CollectorMetrics()

    async def start(self, journal: LocalJournal) -> None:
        self.store = AlertStore(self.tmp / "alerts.sqlite")
        self.sink = AlertSink(
            self.store, RULES, lambda rule: ["hook"], journal, "c1", self.metrics, snapshot_every=self.snapshot_every
        )
        if not self.idle_snapshots:  # a crash before the caught-up snapshot: the next start replays
            self.sink.checkpoint = None
        self.runner = SinkRunner(journal, self.sink, self.metrics, poll=0.02)
        self.task = asyncio.create_task(self.runner.run())

    async def settle(self, journal: LocalJournal) -> None:
        for _ in range(500):
            await asyncio.sleep(0.02)
            if self.runner.position == journal.end and not self.runner.failing:
                return
        raise AssertionError("the alert sink did not catch up")

    async def crash(self) -> None:
        """Gone without a last snapshot: the next start replays from the stored one."""
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        self.store.close()


def alerts_in(tmp_path) -> list[tuple]:
    conn = sqlite3.connect(tmp_path / "alerts.sqlite")
    rows = conn.execute("SELECT alert_id, rule, tenant, created FROM alerts ORDER BY created").fetchall()
    deliveries = conn.execute("SELECT alert_id, channel FROM deliveries").fetchall()
    conn.close()
    assert sorted(deliveries) == sorted((r[0], "hook") for r in rows), "one delivery per alert and channel"
    return rows


def alert_events(journal: LocalJournal) -> list[dict]:
    entries, _ = journal.read(journal.start())
    out = []
    for entry in entries:
        meta, lines = decode_batch(entry.payload)
        if meta.agent == "collector.c1.alerts":
            out.extend((meta.tenant, orjson.loads(line)) for line in lines)
    return out


def uninterrupted(bursts: list[list[float]]) -> list[str]:
    engine = Engine(RULES)
    seq, ids = 0, []
    for burst in bursts:
        for m in burst:
            seq += 1
            doc = {
                "@timestamp": (T0 + dt.timedelta(minutes=m)).isoformat().replace("+00:00", "Z"),
                "event": {"category": ["authentication"], "outcome": "failure", "id": f"{seq:032x}"},
                "organization": {"id": "acme"},
                "source": {"ip": "10.0.0.9"},
            }
            ids.extend(a.alert_id for a in engine.process(doc))
    return ids


@pytest.mark.parametrize("crash", [True, False], ids=["crash", "clean"])
def test_a_restart_mid_window_mid_throttle_and_after_an_alert_changes_no_outcome(tmp_path, crash):
    bursts = [[0, 1, 2], [3, 4], [5, 15, 16, 17, 18], [41, 42, 43, 44, 45]]  # alert, throttled, alert

    async def main():
        journal = LocalJournal(tmp_path / "journal", 1024 * 1024, 1024**3)
        journal.open()
        feed, collector = Feed(journal), Collector(tmp_path, idle_snapshots=not crash)
        for burst in bursts:
            await collector.start(journal)
            await feed.failures(burst)
            await collector.settle(journal)
            if crash:
                await collector.crash()
            else:
                collector.runner.stop()
                await collector.task
                await collector.sink.close()
                collector.store.close()
        await collector.start(journal)  # one more start after the last: replays, fires nothing new
        await collector.settle(journal)
        await collector.crash()
        events = alert_events(journal)
        journal.close()
        return events

    events = asyncio.run(main())
    rows = alerts_in(tmp_path)
    expected = uninterrupted(bursts)
    assert len(expected) == 2
    assert [r[0] for r in rows] == expected
    assert [r[3] for r in rows] == ["2026-12-01T09:04:00.000000Z", "2026-12-01T09:45:00.000000Z"]  # the 5th failure
    # Each alert is one audit event in acme's log, numbered 1 and 2 in the alert stream.
    assert [(tenant, e["rule"]["id"], e["event"]["sequence"]) for tenant, e in events] == [
        ("acme", expected[0], 1),
        ("acme", expected[1], 2),
    ]
    assert all(e["event"]["action"] == "alert_fired" and e["event"]["kind"] == "alert" for _, e in events)


@pytest.mark.parametrize("restore_fails_too", [False, True], ids=["store", "store-and-restore"])
def test_a_store_failure_mid_batch_goes_back_to_the_snapshot_and_counts_nothing_twice(tmp_path, restore_fails_too):
    """Four failures, the store failing once after the engine counted the third: were the
    replay to count events again, the fifth count would be reached and a false alert fire.
    With the snapshot unreadable at that moment too, the next batch restores it first."""

    async def main():
        journal = LocalJournal(tmp_path / "journal", 1024 * 1024, 1024**3)
        journal.open()
        feed, collector = Feed(journal), Collector(tmp_path, snapshot_every=0.0)
        await collector.start(journal)
        await feed.failures([0, 1])
        await collector.settle(journal)
        commit, failed = collector.store.commit, []

        def flaky(*args, **kwargs):
            if not failed:
                failed.append(1)
                raise sqlite3.OperationalError("disk I/O error")
            return commit(*args, **kwargs)

        collector.store.commit = flaky
        if restore_fails_too:
            load, load_failed = collector.store.load_state, []

            def flaky_load(*args):
                if not load_failed:
                    load_failed.append(1)
                    raise sqlite3.OperationalError("database is locked")
                return load(*args)

            collector.store.load_state = flaky_load
        await feed.failures([2])
        for _ in range(400):
            await asyncio.sleep(0.02)
            if failed and collector.runner.position == journal.end and not collector.runner.failing:
                break
        await feed.failures([3])
        await collector.settle(journal)
        stats = collector.sink.engine.stats["matches", "failed-logins"]
        await collector.crash()
        journal.close()
        return failed, stats

    failed, matches = asyncio.run(main())
    assert failed == [1]
    assert alerts_in(tmp_path) == []
    assert matches == 2  # the engine restored at the snapshot after event 2, then saw 3 and 4 once


def test_two_tenants_with_the_same_ip_never_combine_and_alerts_are_never_evaluated(tmp_path):
    async def main():
        journal = LocalJournal(tmp_path / "journal", 1024 * 1024, 1024**3)
        journal.open()
        feed, collector = Feed(journal), Collector(tmp_path, snapshot_every=0.0)
        await collector.start(journal)
        await feed.failures([0, 1, 2], tenant="acme")
        await feed.failures([3, 4], tenant="globex")
        await collector.settle(journal)
        assert alerts_in(tmp_path) == []
        await feed.failures([5, 6], tenant="acme")
        await feed.failures([7, 8, 9], tenant="globex")
        await collector.settle(journal)
        await asyncio.sleep(0.2)
        await collector.settle(journal)  # the alert events came back through the journal
        skipped = collector.sink.engine.stats["evaluations", "failed-logins"]
        await collector.crash()
        events = alert_events(journal)
        journal.close()
        return events, skipped

    events, evaluations = asyncio.run(main())
    rows = alerts_in(tmp_path)
    assert sorted(r[2] for r in rows) == ["acme", "globex"]
    assert sorted(tenant for tenant, _ in events) == ["acme", "globex"]
    assert evaluations == 10, "the alert events themselves are not evaluated"


def test_caught_up_the_sink_snapshots_at_once_so_the_journal_can_let_go(tmp_path):
    """Snapshots are taken every few seconds while events flow; once caught up, at once — a full
    journal brings no new batch that would move the sink's durable cursor."""

    async def main():
        journal = LocalJournal(tmp_path / "journal", 1024 * 1024, 1024**3)
        journal.open()
        feed, collector = Feed(journal), Collector(tmp_path, snapshot_every=3600.0)
        await collector.start(journal)
        await feed.failures([0, 1, 2])
        await collector.settle(journal)
        for _ in range(100):
            found = collector.store.load_state("alerts")
            if found and found[0] == journal.end.encode():
                break
            await asyncio.sleep(0.02)
        await collector.crash()
        journal.close()
        return found[0], journal.end.encode()

    stored, end = asyncio.run(main())
    assert stored == end


def test_hostile_and_real_sized_lines_are_counted_alone_and_their_neighbours_alert(tmp_path):
    """Lines the engine cannot use (not JSON, invalid UTF-8, not an object, wrong types, 10^40,
    200-deep nesting, a 1,500-byte realistic event with odd fields) sit between the failures
    of one burst: none stops the sink, the burst still alerts once."""
    hostile = [
        b"not json",
        b"\xff\xfe invalid utf-8",
        b"[1, 2, 3]",
        orjson.dumps({"event": "a string", "@timestamp": 5}),
        b'{"event": {"sequence": 1e40}, "organization": {"id": 10000000000000000000000000000000000000000}}',
        b'{"event": {"sequence": 2}, "x": ' + b'{"a": ' * 200 + b"1" + b"}" * 200 + b"}",
    ]

    async def main():
        journal = LocalJournal(tmp_path / "journal", 1024 * 1024, 1024**3)
        journal.open()
        feed, collector = Feed(journal), Collector(tmp_path, snapshot_every=0.0)
        await collector.start(journal)
        meta = BatchMeta("odd-agent", "acme", "2026-12-01T09:00:00Z")
        for n, minute in enumerate([0, 1, 2, 3, 4]):
            await feed.failures([minute])
            line = hostile[n] if n < len(hostile) else b"{}"
            big = {
                "@timestamp": "2026-12-01T09:00:30Z",
                "event": {"action": "sudo", "category": ["process"], "sequence": n + 1, "outcome": "success"},
                "organization": {"id": "acme"},
                "process": {"command_line": "x" * 1200, "args": ["-u", "root"], "pid": 2**63 - 1},
                "user": {"name": "bob", "roles": [None, 7, {"a": 1}], "target": {"name": ["list"]}},
                "source": {"ip": None},
            }
            await journal.append(
                [Write("odd-agent", n + 1, encode_batch(meta, [line, orjson.dumps(big), hostile[-1]]))]
            )
        await collector.settle(journal)
        stats = dict(collector.sink.engine.stats)
        await collector.crash()
        journal.close()
        return stats

    stats = asyncio.run(main())
    rows = alerts_in(tmp_path)
    assert [r[1] for r in rows] == ["failed-logins"]
    assert stats["unusable", ""] >= 10  # every hostile line, counted, none raising
