"""The sealer's crash safety and idle checkpoints."""

import time

from auditseal import archive
from auditseal.note import Signer, Verifier
from auditseal.segments import Position
from auditseal.verify import verify_store
from collector.sealer import Sealer
from tests.integrity_corpus import journal_batches


def make(root, signer, interval=3600.0):
    sealer = Sealer(archive.LocalStore(root / "archive"), root / "sealer", signer, signer.name, interval)
    return sealer, sealer.open()


def check(root, signer):
    return verify_store(archive.LocalStore(root / "archive"), [signer.verifier()])


def test_replay_after_a_crash_seals_nothing_twice(tmp_path):
    signer = Signer.generate("auditseal.test")
    batches = journal_batches([("acme", 10), ("globex", 5), ("acme", 7)])
    sealer, cursor = make(tmp_path, signer)
    assert cursor is None
    sealer.process(batches[0] + batches[1], Position(1, batches[1][0][1].end))
    # Crash before the cursor moved: the restarted sealer replays from the old cursor.
    (tmp_path / "sealer" / "cursor.json").unlink()
    again, cursor = make(tmp_path, signer)
    assert cursor is None
    everything = batches[0] + batches[1] + batches[2]
    again.process(everything, Position(1, batches[2][0][1].end))
    report = check(tmp_path, signer)
    assert report.findings == [] and report.events_verified == 22


def test_objects_of_an_unfinished_seal_are_removed_and_sealed_again(tmp_path):
    signer = Signer.generate("auditseal.test")
    batches = journal_batches([("acme", 10), ("acme", 6)])
    sealer, _ = make(tmp_path, signer)
    sealer.process(batches[0], Position(1, batches[0][0][1].end))
    state_file = tmp_path / "sealer" / "acme.log.json"
    before = state_file.read_bytes()
    sealer.process(batches[1], Position(1, batches[1][0][1].end))
    # Crash after the segment and checkpoint were written, before the state was: put it back.
    state_file.write_bytes(before)
    (tmp_path / "sealer" / "cursor.json").write_bytes(b"[1, %d]" % batches[0][0][1].end)
    again, cursor = make(tmp_path, signer)
    assert cursor == Position(1, batches[0][0][1].end)
    assert not (tmp_path / "archive" / "acme" / "0" / archive.checkpoint_key(2)).exists()
    again.process(batches[1], Position(1, batches[1][0][1].end))
    report = check(tmp_path, signer)
    assert report.findings == [] and report.events_verified == 16


def test_idle_logs_get_a_fresh_signed_checkpoint(tmp_path):
    signer = Signer.generate("auditseal.test")
    batches = journal_batches([("acme", 3)])
    sealer, _ = make(tmp_path, signer, interval=0.2)
    sealer.process(batches[0], Position(1, batches[0][0][1].end))
    assert sealer.tick() == 0
    time.sleep(0.3)
    assert sealer.tick() == 1
    note = (tmp_path / "archive" / "acme" / "0" / archive.checkpoint_key(2)).read_text()
    assert "auditseal-segment" not in note and note.split("\n")[1] == "3"
    report = check(tmp_path, signer)
    assert report.findings == [] and report.state["acme/0"]["counter"] == 2


def test_a_missing_state_with_an_archive_present_halts(tmp_path):
    signer = Signer.generate("auditseal.test")
    batches = journal_batches([("acme", 3)])
    sealer, _ = make(tmp_path, signer)
    sealer.process(batches[0], Position(1, batches[0][0][1].end))
    (tmp_path / "sealer" / "acme.log.json").unlink()
    import pytest
    from auditseal.errors import Halt
    with pytest.raises(Halt, match="sealer state for it is missing"):
        make(tmp_path, signer)
    assert Verifier.parse(signer.verifier().encode()) == signer.verifier()


def test_key_rotation_keeps_old_checkpoints_verifiable(tmp_path):
    old, new = Signer.generate("auditseal.test"), Signer.generate("auditseal.test")
    batches = journal_batches([("acme", 5), ("acme", 6)])
    sealer, _ = make(tmp_path, old)
    sealer.process(batches[0], Position(1, batches[0][0][1].end))
    rotated, _ = make(tmp_path, new)  # restarted with the new key; the log continues
    rotated.process(batches[1], Position(1, batches[1][0][1].end))
    store = archive.LocalStore(tmp_path / "archive")
    both = verify_store(store, [old.verifier(), new.verifier()])
    assert both.findings == [] and both.events_verified == 11
    only_new = verify_store(store, [new.verifier()])
    assert [f.code for f in only_new.findings] == ["CHECKPOINT_KEY_UNKNOWN"]
    assert only_new.summary == "1/2 segments valid"
