"""The SQLite index sink: idempotent replays from any cursor."""

import sqlite3

import orjson

from auditseal.formats.event import canonical_bytes, event_id
from auditseal.formats.records import Record
from auditseal.storage.segments import Position
from collector.journal import BatchMeta, encode_batch
from collector.query import EventQuery
from collector.sinks.sqlite_index import SqliteIndex
from collector.sinks.sqlite_search import page_sql, search_page
from collector.sinks.sqlite_search import total as count


def search(path, query):
    return search_page(path, query)[0]


from tests.journal_helpers import cursor_at, journal_batch


def event(seq, tenant="acme", user="alice", action="user_login", ts="2026-11-28T10:00:00.000000Z"):
    return canonical_bytes(
        {
            "@timestamp": ts,
            "organization": {"id": tenant},
            "agent": {"id": "web-1"},
            "user": {"name": user},
            "event": {
                "action": action,
                "category": ["authentication"],
                "outcome": "success",
                "sequence": seq,
                "id": event_id("web-1", seq),
            },
        }
    )


def batch(offset, lines, tenant="acme"):
    payload = encode_batch(BatchMeta("web-1", tenant, "2026-11-28T10:00:01.000000Z"), lines)
    return (Position(1, offset), Record(offset, offset + 17 + len(payload), 1, 0, payload))


def test_index_replay_stores_nothing_twice_and_keeps_the_cursor(tmp_path):
    index = SqliteIndex(tmp_path / "i.sqlite")
    assert index.open() is None
    first = batch(8, [event(1), event(2, user="bob")])
    second = batch(
        first[1].end,
        [event(3, tenant="globex", action="role_granted", ts="2026-11-28T11:00:00.000000Z")],
        tenant="globex",
    )
    index.process(journal_batch([first], Position(1, first[1].end)))
    index.process(journal_batch([first, second], Position(1, second[1].end)))  # replay after a crash
    assert count(tmp_path / "i.sqlite") == 3
    index.close()
    again = SqliteIndex(tmp_path / "i.sqlite")
    assert again.open() == cursor_at(Position(1, second[1].end))
    path = tmp_path / "i.sqlite"
    assert sorted(d["event"]["sequence"] for d in search(path, EventQuery("acme"))) == [1, 2]
    assert [d["event"]["sequence"] for d in search(path, EventQuery("globex"))] == [3]
    assert [d["user"]["name"] for d in search(path, EventQuery("acme", user="bob"))] == ["bob"]
    assert search(path, EventQuery("acme", action="role_granted")) == []  # other tenant's event
    assert len(search(path, EventQuery("globex", since="2026-11-28T10:30:00.000000Z"))) == 1
    assert search(path, EventQuery("globex", until="2026-11-28T11:00:00.000000Z")) == []
    for q, used in (
        (EventQuery("acme", user="bob"), "events_tenant_user_ts_id"),
        (EventQuery("acme", action="user_login", since="2026-11-28T10:30:00.000000Z"), "events_tenant_action_ts_id"),
        (EventQuery("acme", after=("2026-11-28T10:30:00.000000Z", "0" * 32)), "events_tenant_ts_id"),
    ):
        sql, args = page_sql(q)
        plan = " ".join(str(r) for r in sqlite3.connect(path).execute("EXPLAIN QUERY PLAN " + sql, args))
        assert used in plan and "TEMP B-TREE" not in plan, plan


def test_a_sink_that_cannot_open_keeps_the_journal_from_being_released(tmp_path):
    """One sink's store is down at start-up; the other sink racing ahead must not delete
    journal segments the first one has not processed."""
    import asyncio

    from collector.journal import Write
    from collector.journal.local import LocalJournal as Journal
    from collector.metrics import CollectorMetrics
    from collector.sinks.runner import SinkRunner as ConsumerRunner

    class Down:
        name = "index"
        opened = False

        def open(self):
            if not self.opened:
                raise ConnectionError("store down")
            return None

        quarantine = None

        def process(self, batch):
            self.seen = getattr(self, "seen", 0) + batch.count

        def close(self):
            pass

    class Fast(Down):
        name = "archive"
        opened = True

    async def go():
        journal = Journal(tmp_path / "journal", 64 * 1024)
        journal.open()
        down, fast = Down(), Fast()
        metrics = CollectorMetrics()
        runners = [ConsumerRunner(journal, down, metrics, poll=0.05), ConsumerRunner(journal, fast, metrics, poll=0.05)]
        tasks = [asyncio.create_task(r.run()) for r in runners]
        for n in range(40):  # ~40 × 3 KiB: several 64 KiB segments
            await journal.append(
                [Write("web-1", n + 1, encode_batch(BatchMeta("web-1", "acme", "t"), [event(n + 1)] * 20))]
            )
        await asyncio.sleep(0.5)
        assert getattr(fast, "seen", 0) == 800
        segments = journal.log.segment_ids()
        assert len(segments) > 1 and segments[0] == 1, "segments the index never saw were deleted"
        down.opened = True  # the store is back
        for _ in range(200):
            if getattr(down, "seen", 0) == 800:
                break
            await asyncio.sleep(0.1)
        assert down.seen == 800
        for r in runners:
            r.stop()
        await asyncio.gather(*tasks)
        journal.close()

    asyncio.run(go())


def test_index_retention_removes_events_past_their_tenants_hot_days(tmp_path):
    import datetime as dt

    from collector.retention import RetentionPolicy, RetentionRule
    from collector.sinks.sqlite_index import prune

    index = SqliteIndex(tmp_path / "i.sqlite")
    index.open()
    old, recent = "2026-01-01T00:00:00.000000Z", "2026-11-20T00:00:00.000000Z"
    first = batch(8, [event(1, ts=old), event(2, ts=recent)])
    second = batch(first[1].end, [event(3, tenant="sandbox", ts=recent)], tenant="sandbox")
    index.process(journal_batch([first, second], Position(1, second[1].end)))
    index.close()
    policy = RetentionPolicy(index_days=90, rules=[RetentionRule(name="s", tenants=["sandbox"], index_days=5)])
    now = dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc)
    assert prune(tmp_path / "i.sqlite", policy, now, chunk=1) == 2  # acme's January event, sandbox's 8-day-old one
    path = tmp_path / "i.sqlite"
    assert [d["event"]["sequence"] for d in search(path, EventQuery("acme"))] == [2]
    assert search(path, EventQuery("sandbox")) == []
    assert prune(path, policy, now) == 0


def test_every_configurable_sink_and_store_type_is_registered_with_its_model():
    import typing

    from collector import config
    from collector.sinks import registry

    def types(field):
        annotation = config.CollectorConfig.model_fields[field].annotation
        union = (
            typing.get_args(typing.get_args(annotation)[0])
            if typing.get_origin(annotation) is typing.Annotated
            else typing.get_args(annotation)
        )
        models = [typing.get_args(a)[0] if typing.get_origin(a) is typing.Annotated else a for a in union]
        return {m.model_fields["type"].annotation.__args__[0]: m for m in models}

    assert {name: model for name, (model, _) in registry.INDEXES.items()} == types("index")
    assert {name: model for name, (model, _) in registry.STORES.items()} == types("archive")


def stats_by_scan(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT tenant, agent_id, count(*), max(seq), max(ts) FROM events GROUP BY tenant, agent_id "
            "ORDER BY tenant, agent_id"
        ).fetchall()
    finally:
        conn.close()


def stats_kept(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT tenant, agent_id, events, last_seq, last_ts FROM agent_stats WHERE events > 0 "
            "ORDER BY tenant, agent_id"
        ).fetchall()
    finally:
        conn.close()


def test_the_per_agent_table_follows_stores_replays_and_retention(tmp_path):
    import datetime as dt

    from collector.retention import RetentionPolicy
    from collector.sinks.sqlite_index import prune
    from collector.sinks.sqlite_search import agents

    path = tmp_path / "i.sqlite"
    index = SqliteIndex(path)
    index.open()
    first = batch(8, [event(n, ts=f"2026-11-{10 + n:02d}T10:00:00.000000Z") for n in range(1, 6)])
    second = batch(first[1].end, [event(6, tenant="globex")], tenant="globex")
    index.process(journal_batch([first], Position(1, first[1].end)))
    index.process(journal_batch([first, second], Position(1, second[1].end)))  # a replay: nothing counted twice
    index.close()
    assert (
        stats_kept(path)
        == stats_by_scan(path)
        == [
            ("acme", "web-1", 5, 5, "2026-11-15T10:00:00.000000Z"),
            ("globex", "web-1", 1, 6, "2026-11-28T10:00:00.000000Z"),
        ]
    )
    assert agents(path, "acme") == [
        {"agent": "web-1", "events": 5, "last_sequence": 5, "last_event_at": "2026-11-15T10:00:00.000000Z"}
    ]
    # Retention removes the three oldest acme events: the count follows, the last ones stay.
    policy = RetentionPolicy(index_days=30)
    assert prune(path, policy, now=dt.datetime(2026, 12, 13, 12, tzinfo=dt.timezone.utc)) == 3
    assert [r[2] for r in stats_kept(path)] == [2, 1] and stats_kept(path)[0][3:] == (5, "2026-11-15T10:00:00.000000Z")
    assert prune(path, policy, now=dt.datetime(2027, 2, 1, tzinfo=dt.timezone.utc)) == 3
    assert agents(path, "acme") == [] and stats_kept(path) == []


def test_an_index_of_the_first_layout_is_upgraded_in_place(tmp_path):
    """Version 0/1 (no filter columns, no text index, no per-agent table): opening it fills
    the columns from each document, builds the text index and the per-agent table, and the
    triggers keep them from then on."""
    path = tmp_path / "i.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        """CREATE TABLE events (event_id TEXT NOT NULL UNIQUE, tenant TEXT NOT NULL, ts TEXT NOT NULL,
        user_name TEXT, action TEXT NOT NULL, outcome TEXT, agent_id TEXT NOT NULL, seq INTEGER NOT NULL,
        doc BLOB NOT NULL);
        CREATE TABLE sink_cursors (consumer TEXT PRIMARY KEY, cursor TEXT NOT NULL);"""
    )
    for seq in range(1, 26):
        doc = event(seq, user=["alice", "bob"][seq % 2], tenant=["acme", "globex"][seq % 5 == 0])
        conn.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event_id("web-1", seq),
                ["acme", "globex"][seq % 5 == 0],
                "2026-11-28T10:00:00.000000Z",
                ["alice", "bob"][seq % 2],
                "user_login",
                "success",
                "web-1",
                seq,
                doc,
            ),
        )
    conn.commit()
    rows_before = conn.execute("SELECT rowid, event_id, seq FROM events ORDER BY rowid").fetchall()
    conn.close()
    index = SqliteIndex(path)
    index.open()
    index.process(journal_batch([batch(8, [event(26, user="carol")])], Position(1, 500)))
    # v4: told apart by (agent, sequence): an old event sent again is not stored twice
    index.process(journal_batch([batch(600, [event(5), event(26, user="carol")])], Position(1, 900)))
    index.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
    assert (
        conn.execute("SELECT rowid, event_id, seq FROM events WHERE seq <= 25 ORDER BY rowid").fetchall() == rows_before
    )
    declared = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()[0]
    indexes = {
        n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'")
    }
    assert "UNIQUE" not in declared.upper() and "events_agent_seq" in indexes
    assert {"events_tenant_ts_id", "events_tenant_user_ts_id", "events_tenant_action_ts_id"} <= indexes
    triggers = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"events_text_add", "events_text_del", "agent_stats_add", "agent_stats_del"} <= triggers
    assert conn.execute("SELECT count(*) FROM events WHERE categories = '|authentication|'").fetchone()[0] == 26
    conn.close()
    assert stats_kept(path) == stats_by_scan(path) and [r[2] for r in stats_kept(path)] == [21, 5]
    assert len(search(path, EventQuery("acme", user="carol"))) == 1
    assert len(search(path, EventQuery("acme", category="authentication", limit=1000))) == 21


def test_rows_stored_in_one_statement_per_chunk_are_the_very_rows_and_bytes_of_one_insert_each(tmp_path, monkeypatch):
    """The index writes a chunk as one JSON parameter (SQLite keeps the GIL free meanwhile);
    every column, and the stored document byte for byte, must be what a plain INSERT of the
    row writes — whatever the text holds (quotes, backslashes, control bytes, emoji, a
    surrogate pair, NUL) — across several chunks of one transaction."""
    import collector.sinks.sqlite_index as sqlite_index
    from collector.sinks.stored import materialise

    monkeypatch.setattr(sqlite_index, "CHUNK_ROWS", 3)
    odd = ['q"uote', "back\\slash", "ctl\x01\x1f", "ü ☃ 🦊", "nul\x00byte", "<>&'", "\u2028line"]
    lines = [event(i + 1, user=odd[i % len(odd)]) for i in range(10)]
    index = SqliteIndex(tmp_path / "chunked.sqlite")
    index.open()
    index.process(journal_batch([batch(8, lines)], Position(1, 10_000)))
    meta = BatchMeta("web-1", "acme", "2026-11-28T10:00:01.000000Z")
    plain = sqlite3.connect(tmp_path / "plain.sqlite")
    plain.executescript(sqlite_index.SCHEMA)
    plain.executemany(sqlite_index.INSERT, [sqlite_index.row(*materialise(meta, line)) for line in lines])
    plain.commit()
    select = "SELECT event_id, tenant, ts, user_name, action, outcome, agent_id, seq, doc, target_user, categories, source_ip, host, message, typeof(doc), typeof(seq) FROM events ORDER BY rowid"
    chunked = sqlite3.connect(tmp_path / "chunked.sqlite").execute(select).fetchall()
    assert len(chunked) == 10 and chunked == plain.execute(select).fetchall()
    assert [r[8] for r in chunked] == [materialise(meta, line)[1] for line in lines]
    assert {r[14] for r in chunked} == {"blob"} and {r[15] for r in chunked} == {"integer"}


def test_chunks_carry_the_largest_sequence_and_large_documents_as_one_insert_each_would(tmp_path, monkeypatch):
    """The edges of the JSON path: sequence 2^63 - 1 (SQLite's largest integer) stays an
    integer, and documents of 2 KB to 200 KB come back byte for byte. A sequence past 64 bits
    (a journal written by hand: admission refuses it) cannot be a row: that event alone is
    quarantined, the rest of its chunk stored."""
    import collector.sinks.sqlite_index as sqlite_index
    from collector.sinks.quarantine import Quarantine
    from collector.sinks.stored import materialise

    monkeypatch.setattr(sqlite_index, "CHUNK_ROWS", 4)
    meta = BatchMeta("web-1", "acme", "2026-11-28T10:00:01.000000Z")
    lines = [event(2**63 - 1), event(2**63 - 2)]
    for i, size in enumerate((2_000, 20_000, 200_000)):
        doc = orjson.loads(event(10 + i))
        doc["message"] = "m" * size + ' "end"'
        lines.append(canonical_bytes(doc))
    too_big = orjson.loads(event(99))
    too_big["event"]["sequence"] = 2**63
    lines.insert(3, orjson.dumps(too_big))
    box = Quarantine(tmp_path / "q", "index")
    index = SqliteIndex(tmp_path / "i.sqlite", box)
    index.open()
    index.process(journal_batch([batch(8, lines)], Position(1, 10**6)))
    got = (
        sqlite3.connect(tmp_path / "i.sqlite")
        .execute("SELECT seq, typeof(seq), doc FROM events ORDER BY seq")
        .fetchall()
    )
    expected = sorted(
        (materialise(meta, line) for i, line in enumerate(lines) if i != 3), key=lambda m: m[0]["event"]["sequence"]
    )
    assert [(s, t) for s, t, _ in got] == [(d["event"]["sequence"], "integer") for d, _ in expected]
    assert [doc for _, _, doc in got] == [stored for _, stored in expected]
    [entry] = box.open_entries()
    assert entry["seq"] == 2**63 and entry["error_type"] == "OverflowError", entry


def test_a_checkpoint_that_reports_a_lost_batch_makes_the_runner_read_again_from_where_it_says(tmp_path):
    """A sink with a batch in flight (the index's worker process) learns at the runner's
    checkpoint that it was not stored: the runner reads again from ``replay_from``."""
    import asyncio

    from collector.journal import Write
    from collector.journal.local import LocalJournal
    from collector.metrics import CollectorMetrics
    from collector.sinks.base import SinkUnavailable
    from collector.sinks.runner import SinkRunner

    class InFlight:
        name = "index"
        quarantine = None

        def __init__(self):
            self.durable, self.in_hand, self.lost_once, self.stored = None, None, False, []

        def open(self):
            return None

        def process(self, batch):
            self.checkpoint()
            if self.durable is None:
                self.durable = batch.entries[0].cursor
            self.in_hand = (batch.end, [e["event"]["sequence"] for _, e in batch.documents()])
            return self.durable

        def checkpoint(self):
            if self.in_hand is not None:
                end, seqs = self.in_hand
                self.in_hand = None
                if not self.lost_once:  # the first batch never lands
                    self.lost_once = True
                    raise SinkUnavailable("worker ended", replay_from=self.durable)
                self.stored += seqs
                self.durable = end
            return self.durable

        def close(self):
            pass

    sink = InFlight()

    async def go():
        journal = LocalJournal(tmp_path / "journal", 64 * 1024)
        journal.open()
        runner = SinkRunner(journal, sink, CollectorMetrics(), poll=0.05)
        task = asyncio.create_task(runner.run())
        await journal.append(
            [Write("web-1", 3, encode_batch(BatchMeta("web-1", "acme", "t"), [event(1), event(2), event(3)]))]
        )
        for _ in range(100):
            if len(sink.stored) >= 3:
                break
            await asyncio.sleep(0.05)
        runner.stop()
        await task
        journal.close()

    asyncio.run(go())
    assert sink.lost_once and sink.stored == [1, 2, 3]
