"""The sealer's crash safety and idle checkpoints."""

import time

from auditseal.audit.verify import verify_store
from auditseal.formats.note import Signer, Verifier
from auditseal.storage import archive
from auditseal.storage.segments import Position
from collector.sinks.base import SinkUnavailable
from collector.sinks.sealer import Sealer
from tests.integrity_corpus import journal_batches
from tests.journal_helpers import cursor_at, journal_batch


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
    sealer.process(journal_batch(batches[0] + batches[1], Position(1, batches[1][0][1].end)))
    # Crash before the cursor moved: the restarted sealer replays from the old cursor.
    (tmp_path / "sealer" / "cursor.json").unlink()
    again, cursor = make(tmp_path, signer)
    assert cursor is None
    everything = batches[0] + batches[1] + batches[2]
    again.process(journal_batch(everything, Position(1, batches[2][0][1].end)))
    report = check(tmp_path, signer)
    assert report.findings == [] and report.events_verified == 22


def test_objects_of_an_unfinished_seal_are_removed_and_sealed_again(tmp_path):
    signer = Signer.generate("auditseal.test")
    batches = journal_batches([("acme", 10), ("acme", 6)])
    sealer, _ = make(tmp_path, signer)
    sealer.process(journal_batch(batches[0], Position(1, batches[0][0][1].end)))
    state_file = tmp_path / "sealer" / "acme.log.json"
    before = state_file.read_bytes()
    sealer.process(journal_batch(batches[1], Position(1, batches[1][0][1].end)))
    # Crash after the segment and checkpoint were written, before the state was: put it back.
    state_file.write_bytes(before)
    (tmp_path / "sealer" / "cursor.json").write_bytes(
        b'"%s"' % cursor_at(Position(1, batches[0][0][1].end)).encode().encode()
    )
    again, cursor = make(tmp_path, signer)
    assert cursor == cursor_at(Position(1, batches[0][0][1].end))
    assert not (tmp_path / "archive" / "acme" / "0" / archive.checkpoint_key(2)).exists()
    again.process(journal_batch(batches[1], Position(1, batches[1][0][1].end)))
    report = check(tmp_path, signer)
    assert report.findings == [] and report.events_verified == 16


def test_idle_logs_get_a_fresh_signed_checkpoint(tmp_path):
    signer = Signer.generate("auditseal.test")
    batches = journal_batches([("acme", 3)])
    sealer, _ = make(tmp_path, signer, interval=0.2)
    sealer.process(journal_batch(batches[0], Position(1, batches[0][0][1].end)))
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
    sealer.process(journal_batch(batches[0], Position(1, batches[0][0][1].end)))
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
    sealer.process(journal_batch(batches[0], Position(1, batches[0][0][1].end)))
    rotated, _ = make(tmp_path, new)  # restarted with the new key; the log continues
    rotated.process(journal_batch(batches[1], Position(1, batches[1][0][1].end)))
    store = archive.LocalStore(tmp_path / "archive")
    both = verify_store(store, [old.verifier(), new.verifier()])
    assert both.findings == [] and both.events_verified == 11
    only_new = verify_store(store, [new.verifier()])
    assert [f.code for f in only_new.findings] == ["CHECKPOINT_KEY_UNKNOWN"]
    assert only_new.summary == "1/2 segments valid"


class FailingStore(archive.LocalStore):
    """A store whose puts fail from the ``fail_at``-th on (the process 'crashes' there)."""

    def __init__(self, root, fail_at):
        super().__init__(root)
        self.puts, self.fail_at = 0, fail_at

    def put_once(self, key, data, retain_until=None, metadata=None):
        self.puts += 1
        if self.puts >= self.fail_at:
            raise OSError("injected: the store went away")
        super().put_once(key, data, retain_until, metadata)


def test_a_seal_stopped_after_its_segment_is_rolled_forward_not_redone(tmp_path):
    signer = Signer.generate("auditseal.test")
    batches = journal_batches([("acme", 10), ("acme", 6)])
    sealer, _ = make(tmp_path, signer)
    sealer.process(journal_batch(batches[0], Position(1, batches[0][0][1].end)))
    # The second seal writes its segment, then the store fails before the checkpoint.
    failing = Sealer(FailingStore(tmp_path / "archive", fail_at=2), tmp_path / "sealer", signer, signer.name)
    failing.open()
    import pytest

    with pytest.raises(SinkUnavailable):
        failing.process(journal_batch(batches[1], Position(1, batches[1][0][1].end)))
    assert (tmp_path / "archive" / "acme" / "0" / archive.segment_key(10, 6)).exists()
    assert list((tmp_path / "sealer").glob("*.intent.json"))
    # Restart: the seal completes from its intent (a locked store could not remove the segment),
    # and the replayed batch is not sealed again.
    again, cursor = make(tmp_path, signer)
    assert not list((tmp_path / "sealer").glob("*.intent.json"))
    again.process(journal_batch(batches[1], Position(1, batches[1][0][1].end)))
    report = check(tmp_path, signer)
    assert report.findings == [] and report.events_verified == 16 and report.segments_total == 2


def test_a_seal_whose_segment_never_landed_is_dropped_and_sealed_again(tmp_path):
    signer = Signer.generate("auditseal.test")
    batches = journal_batches([("acme", 4)])
    failing = Sealer(FailingStore(tmp_path / "archive", fail_at=1), tmp_path / "sealer", signer, signer.name)
    failing.open()
    import pytest

    with pytest.raises(SinkUnavailable):
        failing.process(journal_batch(batches[0], Position(1, batches[0][0][1].end)))
    # Same process, store back: the next call drops the intent and seals the batch once.
    failing.store.fail_at = 10**9
    failing.process(journal_batch(batches[0], Position(1, batches[0][0][1].end)))
    report = check(tmp_path, signer)
    assert report.findings == [] and report.events_verified == 4 and report.segments_total == 1


def test_retention_rules_seal_each_class_into_its_own_partition(tmp_path):
    from collector.retention import RetentionPolicy, RetentionRule

    signer = Signer.generate("auditseal.test")
    policy = RetentionPolicy(rules=[RetentionRule(name="auth", categories=["authentication"], archive_days=3650)])
    sealer = Sealer(
        archive.LocalStore(tmp_path / "archive"), tmp_path / "sealer", signer, signer.name, retention=policy
    )
    sealer.open()
    batches = journal_batches([("acme", 40)])
    sealer.process(journal_batch(batches[0], Position(1, batches[0][0][1].end)))
    logs = archive.list_logs(archive.LocalStore(tmp_path / "archive"))
    assert logs == [("acme", "0"), ("acme", "auth")]
    report = check(tmp_path, signer)
    assert report.findings == [] and report.events_verified == 40
    auth_lines = archive.decode_segment(
        archive.LocalStore(tmp_path / "archive").get(
            "acme/auth/" + archive.LocalStore(tmp_path / "archive").list("acme/auth/segments")[0].split("/", 2)[2]
        )
    )
    import orjson

    assert auth_lines and all("authentication" in orjson.loads(line)["event"]["category"] for line in auth_lines)
