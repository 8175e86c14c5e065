"""The SQLite index and the local archive: idempotent replays from any cursor."""

import sqlite3

import orjson

from auditseal.event import canonical_bytes, event_id
from auditseal.records import Record
from auditseal.segments import Position
from collector.archive_local import LocalArchive, read_segment
from collector.index_sqlite import SqliteIndex, count, search
from collector.journal import BatchMeta, encode_batch
from collector.query import EventQuery


def event(seq, tenant="acme", user="alice", action="user_login", ts="2026-11-28T10:00:00.000000Z"):
    return canonical_bytes({
        "@timestamp": ts, "organization": {"id": tenant}, "agent": {"id": "web-1"},
        "user": {"name": user}, "event": {"action": action, "category": ["authentication"],
                                          "outcome": "success", "sequence": seq,
                                          "id": event_id("web-1", seq)}})


def batch(offset, lines, tenant="acme"):
    payload = encode_batch(BatchMeta("web-1", tenant, "2026-11-28T10:00:01.000000Z"), lines)
    return (Position(1, offset), Record(offset, offset + 17 + len(payload), 1, 0, payload))


def test_index_replay_stores_nothing_twice_and_keeps_the_cursor(tmp_path):
    index = SqliteIndex(tmp_path / "i.sqlite")
    assert index.open() is None
    first = batch(8, [event(1), event(2, user="bob")])
    second = batch(first[1].end, [event(3, tenant="globex", action="role_granted",
                                        ts="2026-11-28T11:00:00.000000Z")], tenant="globex")
    index.process([first], Position(1, first[1].end))
    index.process([first, second], Position(1, second[1].end))  # replay after a crash
    assert count(tmp_path / "i.sqlite") == 3
    index.close()
    again = SqliteIndex(tmp_path / "i.sqlite")
    assert again.open() == Position(1, second[1].end)
    path = tmp_path / "i.sqlite"
    assert sorted(d["event"]["sequence"] for d in search(path, EventQuery("acme"))) == [1, 2]
    assert [d["event"]["sequence"] for d in search(path, EventQuery("globex"))] == [3]
    assert [d["user"]["name"] for d in search(path, EventQuery("acme", user="bob"))] == ["bob"]
    assert search(path, EventQuery("acme", action="role_granted")) == []  # other tenant's event
    assert len(search(path, EventQuery("globex", since="2026-11-28T10:30:00.000000Z"))) == 1
    assert search(path, EventQuery("globex", until="2026-11-28T11:00:00.000000Z")) == []
    sql, args = EventQuery("acme", user="bob").sql()
    plan = " ".join(str(r) for r in sqlite3.connect(path).execute("EXPLAIN QUERY PLAN " + sql, args))
    assert "events_tenant_user_ts" in plan


def test_archive_is_write_once_per_tenant_and_replay_skips_what_it_holds(tmp_path):
    archive = LocalArchive(tmp_path / "archive")
    assert archive.open() is None
    first = batch(8, [event(1)])
    other = batch(first[1].end, [event(2, tenant="globex")], tenant="globex")
    end = Position(1, other[1].end)
    archive.process([first, other], end)
    files = sorted((tmp_path / "archive").rglob("*.lz4"))
    assert [f.parent.name for f in files] == ["acme", "globex"]
    assert all(f.stat().st_mode & 0o222 == 0 for f in files)  # read-only
    # A crash after the files but before the cursor: replay from the old cursor adds nothing.
    (tmp_path / "archive" / ".cursor.json").unlink()
    again = LocalArchive(tmp_path / "archive")
    assert again.open() is None
    second = batch(other[1].end, [event(3)])
    again.process([first, other, second], Position(1, second[1].end))
    docs = [d for f in sorted((tmp_path / "archive").rglob("*.lz4")) for d in read_segment(f)]
    assert sorted(d["event"]["sequence"] for d in docs) == [1, 2, 3]
    assert orjson.loads((tmp_path / "archive" / ".cursor.json").read_bytes()) == [1, second[1].end]
