import asyncio

from collector.journal import BatchMeta, Write, batch_meta, decode_batch, encode_batch
from collector.journal.local import LocalJournal as Journal

META = BatchMeta("web-1", "acme", "2026-11-28T10:00:00.000000Z")


def test_batch_payload_golden_and_roundtrip():
    payload = encode_batch(META, [b'{"n":1}', b'{"n":2}'])
    assert payload == (b'{"agent":"web-1","tenant":"acme","ingested":"2026-11-28T10:00:00.000000Z"}\n{"n":1}\n{"n":2}')
    assert decode_batch(payload) == (META, [b'{"n":1}', b'{"n":2}'])
    assert batch_meta(payload) == META


def test_concurrent_appends_share_fsyncs_and_dedupe_marks_outlive_deleted_segments(tmp_path):
    async def scenario():
        journal = Journal(tmp_path, max_segment_bytes=64 * 1024)
        journal.open()
        fsyncs = 0
        real_append = journal.log.append

        def counting_append(items, sync=True):
            nonlocal fsyncs
            fsyncs += 1
            return real_append(items, sync)

        journal.log.append = counting_append
        line = b"x" * 1000
        for first in range(1, 101, 20):  # five waves of 20 concurrent requests
            await asyncio.gather(
                *[
                    journal.append([Write("web-1", seq, encode_batch(META, [line * 5]))])
                    for seq in range(first, first + 20)
                ]
            )
        assert fsyncs <= 10  # group commit: many batches per fsync
        segments = journal.log.segment_ids()
        assert len(segments) > 1
        journal.register("index", journal.start())
        removed = journal.release("index", journal.end)
        assert removed == len(segments) - 1
        journal.close()

    asyncio.run(scenario())
    again = Journal(tmp_path, max_segment_bytes=64 * 1024)
    again.open()
    assert again.marks.acked("web-1") == 100  # from dedupe.json plus the remaining segment


def test_reopen_after_a_torn_append_keeps_every_complete_batch(tmp_path):
    async def write():
        journal = Journal(tmp_path, max_segment_bytes=1 << 20)
        journal.open()
        await journal.append([Write("web-1", 3, encode_batch(META, [b"a", b"b", b"c"]))])
        await journal.append([Write("web-1", 5, encode_batch(META, [b"d", b"e"]))])
        journal.close()

    asyncio.run(write())
    segment = next((tmp_path / "segments").glob("*.seg"))
    segment.write_bytes(segment.read_bytes()[:-1])
    journal = Journal(tmp_path, max_segment_bytes=1 << 20)
    journal.open()
    # The torn batch was never acknowledged (fsync had not returned): its agent resends it.
    assert journal.marks.acked("web-1") == 3
    found, _ = journal.read(journal.start())
    assert [decode_batch(r.payload)[1] for r in found] == [[b"a", b"b", b"c"]]


def test_cursor_text_golden_ordered_and_strict():
    import pytest

    from collector.journal import Cursor

    cursor = Cursor("local", (3, 145106))
    assert cursor.encode() == "1:local:3.145106"
    assert Cursor.decode("1:local:3.145106") == cursor
    assert Cursor("local", (3, 9)) < cursor < Cursor("local", (4, 0))
    for bad in ("", "local:3.1", "2:local:3.1", "1:local:", "1:Local:3.1", "1:local:3.x", "1:local:-1"):
        with pytest.raises(ValueError):
            Cursor.decode(bad)


def test_previous_release_positions_become_cursors(tmp_path):
    import sqlite3

    import orjson

    from collector.journal.upgrade import legacy_cursor, migrate

    assert legacy_cursor([1, 120859]) == "1:local:1.120859"
    assert legacy_cursor("1:local:1.5") is None and legacy_cursor([1]) is None and legacy_cursor([-1, 2]) is None
    (tmp_path / "sealer").mkdir()
    (tmp_path / "elasticsearch").mkdir()
    (tmp_path / "sealer" / "cursor.json").write_bytes(b"[2, 80]")
    (tmp_path / "elasticsearch" / "cursor.json").write_bytes(b"[2, 64]")
    (tmp_path / "sealer" / "acme.log.json").write_bytes(orjson.dumps({"tenant": "acme", "journal_end": [2, 80]}))
    (tmp_path / "sealer" / "acme.intent.json").write_bytes(orjson.dumps({"state": {"journal_end": [2, 99]}}))
    index = tmp_path / "index.sqlite"
    conn = sqlite3.connect(index)
    conn.execute("CREATE TABLE cursors (consumer TEXT PRIMARY KEY, segment INTEGER NOT NULL, offset INTEGER NOT NULL)")
    conn.execute("INSERT INTO cursors VALUES ('index', 2, 70)")
    conn.commit()
    conn.close()
    assert len(migrate(tmp_path, index)) == 5
    assert orjson.loads((tmp_path / "sealer" / "cursor.json").read_bytes()) == "1:local:2.80"
    assert orjson.loads((tmp_path / "elasticsearch" / "cursor.json").read_bytes()) == "1:local:2.64"
    assert orjson.loads((tmp_path / "sealer" / "acme.log.json").read_bytes())["journal_end"] == "1:local:2.80"
    assert (
        orjson.loads((tmp_path / "sealer" / "acme.intent.json").read_bytes())["state"]["journal_end"] == "1:local:2.99"
    )
    conn = sqlite3.connect(index)
    assert conn.execute("SELECT consumer, cursor FROM sink_cursors").fetchall() == [("index", "1:local:2.70")]
    conn.close()
    assert migrate(tmp_path, index) == [], "once only"
