"""Every kind of tampering, each on a copy of a sealed archive of 10,000+ events across
four checkpoints, each reported with its own code and range while every untouched
segment still counts as valid."""

import sqlite3

import lz4.frame
import orjson
import pytest

from auditseal.audit.verify import sqlite_index, verify_store
from auditseal.formats.note import Signer, Verifier
from auditseal.storage import archive
from tests import integrity_corpus
from tests.journal_helpers import journal_batch

BATCHES = [("acme", 2500), ("acme", 2600), ("globex", 500), ("acme", 2700), ("acme", 2800)]
ACME = "acme/0"
# acme's segments, by leaf range
SEG = [(0, 2499), (2500, 5099), (5100, 7799), (7800, 10599)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    signer = integrity_corpus.build(root, BATCHES)
    return root, signer


@pytest.fixture
def copy(corpus, tmp_path):
    root, _ = corpus
    return integrity_corpus.copy(root, tmp_path / "copy")


def verify(root, state=None, index=False, keys=None):
    verifiers = keys or [Verifier.parse((root / "verifier.vkey").read_text())]
    return verify_store(
        archive.LocalStore(root / "archive"),
        verifiers,
        state,
        sqlite_index(str(root / "index.sqlite")) if index else None,
    )


def codes(report):
    return [(f.code, f.log, f.first, f.last) for f in report.findings]


def seg_path(root, rng, log=ACME):
    return root / "archive" / log / archive.segment_key(rng[0], rng[1] - rng[0] + 1)


def ckpt_path(root, counter, log=ACME):
    return root / "archive" / log / archive.checkpoint_key(counter)


def test_an_untouched_archive_verifies(copy):
    report = verify(copy, index=True)
    assert report.findings == []
    assert report.summary == "5/5 segments valid"
    assert report.events_verified == 11_100
    assert report.state[ACME]["size"] == 10_600 and report.state[ACME]["counter"] == 4


def test_one_flipped_byte_in_a_segment(copy):
    path = seg_path(copy, SEG[1])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    report = verify(copy)
    assert codes(report) == [("SEGMENT_HASH_MISMATCH", ACME, 2500, 5099)]
    assert report.summary == "4/5 segments valid"


def test_a_deleted_segment(copy):
    seg_path(copy, SEG[2]).unlink()
    report = verify(copy)
    assert codes(report) == [("SEGMENT_MISSING", ACME, 5100, 7799)]
    assert report.summary == "4/5 segments valid"  # later segments verify on their own


def test_two_events_swapped_inside_a_segment(copy):
    path = seg_path(copy, SEG[0])
    lines = lz4.frame.decompress(path.read_bytes()).splitlines()
    lines[10], lines[11] = lines[11], lines[10]
    path.write_bytes(archive.encode_segment(lines))
    report = verify(copy)
    assert codes(report) == [("SEGMENT_HASH_MISMATCH", ACME, 0, 2499)]
    assert report.summary == "4/5 segments valid"


def test_two_segments_contents_swapped(copy):
    a, b = seg_path(copy, SEG[1]), seg_path(copy, SEG[2])
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    report = verify(copy)
    assert codes(report) == [("SEGMENT_HASH_MISMATCH", ACME, 2500, 5099), ("SEGMENT_HASH_MISMATCH", ACME, 5100, 7799)]
    assert report.summary == "3/5 segments valid"


def test_truncation_of_the_newest_events_is_caught_through_the_state(copy):
    state = verify(copy).state
    seg_path(copy, SEG[3]).unlink()
    ckpt_path(copy, 4).unlink()
    report = verify(copy, state=state)
    assert codes(report) == [("TRUNCATION", ACME, 7800, 10599)]
    assert report.summary == "4/4 segments valid"
    assert report.state[ACME]["size"] == 10_600  # it keeps remembering the longer tree
    assert verify(copy).findings == []  # without the state, truncation is invisible: why it exists


def test_an_older_checkpoint_served_as_the_newest_is_a_rollback(copy):
    state = verify(copy).state
    ckpt_path(copy, 4).write_bytes(ckpt_path(copy, 3).read_bytes())
    report = verify(copy, state=state)
    found = codes(report)
    assert ("ROLLBACK", ACME, 7800, 10599) in found
    assert ("CHECKPOINT_MISPLACED", ACME, 5100, 7799) in found
    assert ("SEGMENT_UNSIGNED", ACME, 7800, 10599) in found
    assert report.summary == "4/5 segments valid"  # acme's first three and globex's


def test_a_checkpoint_deleted_in_the_middle(copy):
    ckpt_path(copy, 2).unlink()
    report = verify(copy)
    assert codes(report) == [("CHECKPOINT_MISSING", ACME, 2500, 5099)]
    assert report.summary == "4/5 segments valid"  # the later checkpoints still verify


@pytest.mark.parametrize("edit", ["size", "root"])
def test_a_checkpoint_edited_with_its_signature_kept(copy, edit):
    path = ckpt_path(copy, 3)
    lines = path.read_text().split("\n")
    if edit == "size":
        lines[1] = str(int(lines[1]) + 1)
    else:
        lines[2] = ("A" if lines[2][0] != "A" else "B") + lines[2][1:]
    path.write_text("\n".join(lines))
    report = verify(copy)
    assert [c[0] for c in codes(report)] == ["CHECKPOINT_SIGNATURE_INVALID"]
    assert codes(report)[0][2:] == ((5100, 7799) if edit == "root" else (5100, 7799))
    assert report.summary == "4/5 segments valid"


def test_a_flipped_signature_byte(copy):
    path = ckpt_path(copy, 1)
    text = path.read_text()
    head, sig = text.rsplit(" ", 1)
    flipped = "A" if sig[10] != "A" else "B"
    path.write_text(head + " " + sig[:10] + flipped + sig[11:])
    report = verify(copy)
    assert [c[:4] for c in codes(report)] == [("CHECKPOINT_SIGNATURE_INVALID", ACME, 0, 2499)]
    assert report.summary == "4/5 segments valid"


def test_an_archive_rebuilt_and_resigned_with_another_key(corpus, tmp_path):
    root, _ = corpus
    state = verify(root).state
    forged = tmp_path / "forged"
    integrity_corpus.build(forged, BATCHES, signer=Signer.generate("auditseal.test"), with_index=False)
    report = verify(forged, state=state, keys=[Verifier.parse((root / "verifier.vkey").read_text())])
    found = [c[0] for c in codes(report)]
    assert found.count("CHECKPOINT_KEY_UNKNOWN") == 5
    assert found.count("ROLLBACK") == 2  # neither log has a checkpoint by the pinned key
    assert report.summary == "0/5 segments valid"


def test_index_deleted_edited_and_injected_events(copy):
    conn = sqlite3.connect(copy / "index.sqlite")
    rows = conn.execute("SELECT rowid, event_id, doc FROM events WHERE tenant='acme' ORDER BY seq").fetchall()
    conn.execute("DELETE FROM events WHERE rowid = ?", (rows[5][0],))
    edited = (
        rows[6][2]
        .replace(b'"outcome":"success"', b'"outcome":"failure"')
        .replace(b'"outcome":"failure"', b'"outcome":"unknown"', 1)
    )
    conn.execute("UPDATE events SET doc = ? WHERE rowid = ?", (edited, rows[6][0]))
    # A forged copy of a sealed event under another id: whoever can write the file can drop
    # the index that keeps (agent, sequence) unique first.
    conn.execute("DROP INDEX events_agent_seq")
    conn.execute(
        "INSERT INTO events (event_id, tenant, ts, user_name, action, outcome, agent_id, seq, doc) "
        "SELECT 'ffffffffffffffffffffffffffffffff', tenant, ts, user_name, action, outcome, "
        "agent_id, 42, doc FROM events WHERE rowid = ?",
        (rows[7][0],),
    )
    # Past what the archive has sealed, where the index may run ahead: a row whose id is not
    # the one its (agent, sequence) derive is forged all the same.
    conn.execute(
        "INSERT INTO events (event_id, tenant, ts, user_name, action, outcome, agent_id, seq, doc) "
        "SELECT 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee', tenant, ts, user_name, action, outcome, "
        "agent_id, 1000000, doc FROM events WHERE rowid = ?",
        (rows[7][0],),
    )
    # A sealed event's row moved to another sequence (queries by sequence would lie).
    conn.execute("UPDATE events SET seq = seq + 500000 WHERE rowid = ?", (rows[8][0],))
    conn.commit()
    conn.close()
    report = verify(copy, index=True)
    assert sorted(c[0] for c in codes(report)) == [
        "INDEX_EXTRA",
        "INDEX_EXTRA",
        "INDEX_MISMATCH",
        "INDEX_MISMATCH",
        "INDEX_MISSING",
    ]
    objects = {f.object: f for f in report.findings}
    assert objects[f"acme/0/index:{rows[5][1]}"].code == "INDEX_MISSING"
    assert objects[f"acme/0/index:{rows[6][1]}"].code == "INDEX_MISMATCH"
    assert objects[f"acme/0/index:{rows[8][1]}"].code == "INDEX_MISMATCH"
    assert objects["acme/0/index:ffffffffffffffffffffffffffffffff"].code == "INDEX_EXTRA"
    assert objects["acme/0/index:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"].code == "INDEX_EXTRA"
    assert "not the one its agent" in objects[f"acme/0/index:{rows[8][1]}"].detail
    assert report.summary == "5/5 segments valid"  # the archive itself is intact


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("user_name", "'mallory'"),
        ("action", "'user_logout'"),
        ("outcome", "'tampered'"),
        ("ts", "'1999-01-01T00:00:00.000000Z'"),
        ("categories", "'|process|'"),
        ("source_ip", "'192.0.2.66'"),
        ("host", "'elsewhere'"),
        ("message", "'nothing to see'"),
        ("target_user", "'root'"),
    ],
)
def test_an_altered_filter_column_with_its_document_intact(copy, column, value):
    """The query API filters on these columns: altered, the event is found under another
    user, action or time, or not at all, though its document still matches its leaf."""
    conn = sqlite3.connect(copy / "index.sqlite")
    rowid, event_id = conn.execute("SELECT rowid, event_id FROM events WHERE tenant='acme' ORDER BY seq").fetchone()
    conn.execute(f"UPDATE events SET {column} = {value} WHERE rowid = ?", (rowid,))
    conn.commit()
    conn.close()
    report = verify(copy, index=True)
    assert [(f.code, f.object) for f in report.findings] == [("INDEX_MISMATCH", f"acme/0/index:{event_id}")]
    assert report.findings[0].first == 0 and column in report.findings[0].detail
    assert report.summary == "5/5 segments valid"


@pytest.mark.parametrize("change", ["words removed", "words added"])
def test_the_word_index_altered_behind_the_rows(copy, change):
    """``q`` searches the FTS5 word index, not the rows: words removed hide an event from a
    search, words added make it match what it does not say. Both are INDEX_MISMATCH on the
    row, and nothing else is."""
    conn = sqlite3.connect(copy / "index.sqlite")
    rowid, event_id, message = conn.execute(
        "SELECT rowid, event_id, message FROM events WHERE tenant='acme' ORDER BY seq LIMIT 1 OFFSET 9"
    ).fetchone()
    if change == "words removed":
        conn.execute("INSERT INTO events_text (events_text, rowid, message) VALUES ('delete', ?, ?)", (rowid, message))
    else:
        conn.execute("INSERT INTO events_text (rowid, message) VALUES (?, 'mallory exfiltrated')", (rowid,))
    conn.commit()
    found = conn.execute("SELECT count(*) FROM events_text WHERE events_text MATCH 'mallory'").fetchone()[0]
    assert found == (1 if change == "words added" else 0)
    conn.close()
    report = verify(copy, index=True)
    assert [(f.code, f.object) for f in report.findings] == [("INDEX_MISMATCH", f"acme/0/index:{event_id}")]
    assert "message words" in report.findings[0].detail


def test_a_row_moved_to_another_tenant_and_an_unsealed_row_with_a_lying_column(copy):
    from auditseal.formats.event import canonical_bytes, event_id
    from auditseal.formats.index_layout import SQLITE_INSERT, sqlite_row

    conn = sqlite3.connect(copy / "index.sqlite")
    rows = conn.execute("SELECT rowid, event_id, doc FROM events WHERE tenant='acme' ORDER BY seq").fetchall()
    conn.execute("UPDATE events SET tenant = 'globex' WHERE rowid = ?", (rows[3][0],))
    # Past the sealed range, id derived as the collector would: the index may run ahead of the
    # archive, but not with columns its own document denies.
    doc = orjson.loads(rows[4][2])
    doc["event"]["sequence"] = 2_000_000
    doc["event"]["id"] = event_id(doc["agent"]["id"], 2_000_000)
    ahead = sqlite_row(doc, canonical_bytes(doc))
    conn.execute(SQLITE_INSERT, (*ahead[:3], "mallory", *ahead[4:]))
    # Past the sealed range too, a row whose document is not even JSON.
    junk = sqlite_row(doc, canonical_bytes(doc))
    junk_id = event_id(doc["agent"]["id"], 2_000_001)
    conn.execute(SQLITE_INSERT, (junk_id, *junk[1:7], 2_000_001, b"not json", *junk[9:]))
    conn.commit()
    conn.close()
    found = {f.object: f for f in verify(copy, index=True).findings}
    assert found[f"globex/0/index:{rows[3][1]}"].code == "INDEX_MISMATCH"
    assert "tenant" in found[f"globex/0/index:{rows[3][1]}"].detail
    assert found[f"acme/0/index:{rows[3][1]}"].code == "INDEX_MISSING"
    assert found[f"acme/0/index:{ahead[0]}"].code == "INDEX_MISMATCH"
    assert found[f"acme/0/index:{ahead[0]}"].first is None and "user_name" in found[f"acme/0/index:{ahead[0]}"].detail
    assert found[f"acme/0/index:{junk_id}"].code == "INDEX_MISMATCH"
    assert "not JSON" in found[f"acme/0/index:{junk_id}"].detail
    assert len(found) == 4


def test_an_encrypted_archive_reveals_nothing_and_still_verifies(tmp_path):
    from auditseal.formats.crypto import SegmentCipher

    cipher = SegmentCipher(bytes(range(32)))
    integrity_corpus.build(tmp_path, [("acme", 300), ("globex", 40)], cipher=cipher, with_index=False)
    segments = list((tmp_path / "archive").rglob("*.lz4"))
    assert segments and all(b"user_login" not in p.read_bytes() and b"acme" not in p.read_bytes() for p in segments)
    keys = [Verifier.parse((tmp_path / "verifier.vkey").read_text())]
    store = archive.LocalStore(tmp_path / "archive")
    by_hash = verify_store(store, keys)
    assert by_hash.findings == [] and by_hash.summary == "2/2 segments valid" and by_hash.events_verified == 0
    full = verify_store(store, keys, cipher=cipher)
    assert full.findings == [] and full.events_verified == 340
    wrong = verify_store(store, keys, cipher=SegmentCipher(bytes(32)))
    assert [f.code for f in wrong.findings] == ["SEGMENT_CORRUPT", "SEGMENT_CORRUPT"]
    victim = (
        integrity_corpus.copy(tmp_path / "archive", tmp_path / "tampered") / "acme" / "0" / archive.segment_key(0, 300)
    )
    data = bytearray(victim.read_bytes())
    data[200] ^= 1
    victim.write_bytes(bytes(data))
    tampered = verify_store(archive.LocalStore(tmp_path / "tampered"), keys)  # caught without the key
    assert [f.code for f in tampered.findings] == ["SEGMENT_HASH_MISMATCH"]


def test_an_origin_under_another_name_signed_by_the_pinned_key_is_not_this_log(tmp_path):
    """The key-name part of the origin is bound to the signing key: a pinned key's checkpoint
    for other.example/acme/0 is not auditseal.test's acme log."""
    from auditseal.storage.segments import Position
    from collector.sinks.sealer import Sealer

    signer = Signer.generate("auditseal.test")
    sealer = Sealer(archive.LocalStore(tmp_path / "archive"), tmp_path / "sealer", signer, "other.example")
    sealer.open()
    for records in integrity_corpus.journal_batches([("acme", 20)]):
        sealer.process(journal_batch(records, Position(1, records[-1][1].end)))
    report = verify_store(archive.LocalStore(tmp_path / "archive"), [signer.verifier()])
    assert [(f.code, f.log, f.first, f.last) for f in report.findings] == [("CHECKPOINT_ORIGIN_MISMATCH", ACME, 0, 19)]
    assert "other.example/acme/0" in report.findings[0].detail


def test_the_state_never_advances_past_a_checkpoint_that_does_not_extend_the_one_before(corpus, tmp_path):
    """A fork signed by the collector's own key (a second archive of the same batches: other
    ingest times, other leaves) spliced in from checkpoint 3: CONSISTENCY_FAILURE, and the
    state remembers checkpoint 2, so the next run does not accept the fork as verified."""
    import os
    import shutil

    root, signer = corpus
    work = integrity_corpus.copy(root, tmp_path / "copy")
    other = tmp_path / "other"
    integrity_corpus.build(other, BATCHES, signer=signer, with_index=False)
    for rng in SEG[2:]:
        target = seg_path(work, rng)
        os.chmod(target, 0o644)
        shutil.copyfile(seg_path(other, rng), target)
    for counter in (3, 4):
        target = ckpt_path(work, counter)
        os.chmod(target, 0o644)
        shutil.copyfile(ckpt_path(other, counter), target)
    report = verify(work, state={})
    assert ("CONSISTENCY_FAILURE", ACME) in [c[:2] for c in codes(report)]
    assert report.state[ACME]["counter"] == 2
    again = verify(work, state=report.state)
    assert ("CONSISTENCY_FAILURE", ACME) in [c[:2] for c in codes(again)], "still a finding next run"


def test_a_middle_segment_deleted_with_its_checkpoint_is_bounded_by_its_neighbours(copy):
    seg_path(copy, SEG[1]).unlink()
    ckpt_path(copy, 2).unlink()
    report = verify(copy)
    assert codes(report) == [("CHECKPOINT_MISSING", ACME, 2500, 5099)]


def test_a_whole_log_deleted_is_log_missing_through_the_state(copy):
    import shutil

    state = verify(copy).state
    assert set(state) == {"acme/0", "globex/0"}
    shutil.rmtree(copy / "archive" / "globex")
    report = verify(copy, state=state)
    assert codes(report) == [("LOG_MISSING", "globex/0", 0, 499)]
    assert "globex/0" in report.state, "still remembered: the next run reports it again"
    assert codes(verify(copy, state=report.state)) == [("LOG_MISSING", "globex/0", 0, 499)]
    shutil.rmtree(copy / "archive" / "acme")  # every log gone
    assert sorted(c[0:2] for c in codes(verify(copy, state=state))) == [
        ("LOG_MISSING", "acme/0"),
        ("LOG_MISSING", "globex/0"),
    ]


def continue_sealing(root, signer, batches, seq=20_000, offset=10_000_000):
    """The collector's sealer resuming from its own state dir and sealing more batches."""
    from auditseal.storage.segments import Position
    from collector.sinks.sealer import Sealer

    sealer = Sealer(archive.LocalStore(root / "archive"), root / "sealer", signer, signer.name)
    sealer.open()
    for records in integrity_corpus.journal_batches(batches, seq=seq, offset=offset):
        sealer.process(journal_batch(records, Position(1, records[-1][1].end)))


def test_a_deleted_log_that_the_sealer_goes_on_with_is_the_same_lost_leaves(corpus, copy):
    """The collector goes on sealing a tenant whose log vanished: the new checkpoints still
    commit to the lost tree, the verifier bounds the lost leaves by them (CHECKPOINT_MISSING
    0-499, the range LOG_MISSING reported) and remembers the log's new head."""
    import shutil

    from collector.integrity import alert_group

    _, signer = corpus
    state = verify(copy).state
    shutil.rmtree(copy / "archive" / "globex")
    first = verify(copy, state=state)
    assert codes(first) == [("LOG_MISSING", "globex/0", 0, 499)]
    continue_sealing(copy, signer, [("globex", 7)])
    then = verify(copy, state=first.state)
    assert codes(then) == [("CHECKPOINT_MISSING", "globex/0", 0, 499)]
    assert alert_group(then.findings[0]) == alert_group(first.findings[0])
    assert then.state["globex/0"]["size"] == 507 and then.state["globex/0"]["counter"] == 2
    assert codes(verify(copy, state=then.state)) == [("CHECKPOINT_MISSING", "globex/0", 0, 499)]


def test_a_vanished_log_replaced_by_another_tree_is_a_fork_against_the_state(corpus, copy, tmp_path):
    """Globex's log deleted and a different log signed by the same key put in its place from
    checkpoint 2 on: that checkpoint's frontier is not the tree verified before."""
    import shutil

    _, signer = corpus
    state = verify(copy).state
    other = tmp_path / "other"
    integrity_corpus.build(other, [("globex", 500)], signer=signer, with_index=False)
    continue_sealing(other, signer, [("globex", 5)])
    shutil.rmtree(copy / "archive" / "globex")
    for rel in (archive.checkpoint_key(2), archive.segment_key(500, 5)):
        target = copy / "archive" / "globex" / "0" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(other / "archive" / "globex" / "0" / rel, target)
    report = verify(copy, state=state)
    assert ("FORK", "globex/0", None, 499) in codes(report)
    assert report.state["globex/0"] == state["globex/0"], "the forked head is not remembered"


def test_objects_vanishing_while_the_verifier_reads_are_missing_not_a_crash(copy, monkeypatch):
    store = archive.LocalStore(copy / "archive")
    real_get = archive.LocalStore.get
    gone = {"acme/0/" + archive.checkpoint_key(2), "acme/0/" + archive.segment_key(5100, 2700)}

    def get(self, key):
        if key in gone:  # listed a moment ago, removed since
            raise FileNotFoundError(key)
        return real_get(self, key)

    monkeypatch.setattr(archive.LocalStore, "get", get)
    report = verify_store(store, [Verifier.parse((copy / "verifier.vkey").read_text())])
    assert ("SEGMENT_MISSING", ACME, 5100, 7799) in codes(report)
    assert ("CHECKPOINT_MISSING", ACME, 2500, 5099) in codes(report)


def test_objects_outside_the_layout_are_unknown_objects(copy):
    import shutil

    segment = seg_path(copy, SEG[1])
    shutil.copyfile(segment, segment.with_name(segment.name + ".copy"))
    (copy / "archive" / "notes.txt").write_text("hello")
    report = verify(copy)
    assert sorted((f.code, f.object) for f in report.findings) == [
        ("UNKNOWN_OBJECT", "acme/0/" + str(segment.relative_to(copy / "archive" / "acme" / "0")) + ".copy"),
        ("UNKNOWN_OBJECT", "notes.txt"),
    ]
    assert report.summary == "5/5 segments valid"


def test_words_planted_for_a_row_that_does_not_exist_yet(copy):
    """The next event stored takes the next rowid: words planted for it in advance would make
    it match a search for what it does not say."""
    conn = sqlite3.connect(copy / "index.sqlite")
    (top,) = conn.execute("SELECT max(rowid) FROM events").fetchone()
    conn.execute("INSERT INTO events_text (rowid, message) VALUES (?, 'mallory exfiltrated')", (top + 1,))
    conn.commit()
    conn.close()
    report = verify(copy, index=True)
    assert [(f.code, f.log, f.object) for f in report.findings] == [
        ("INDEX_EXTRA", "index", f"index/events_text:{top + 1}")
    ]
