"""Incremental verification (for locked archives): only what is new since the last run is
downloaded, and what is new is checked as fully as ever."""

import pytest

from auditseal.audit.verify import FORK, SEGMENT_HASH_MISMATCH, verify_store
from auditseal.formats.note import Signer
from auditseal.storage import archive
from auditseal.storage.segments import Position
from collector.sinks.sealer import Sealer
from tests.integrity_corpus import journal_batches
from tests.journal_helpers import journal_batch


class CountingStore(archive.LocalStore):
    def __init__(self, root):
        super().__init__(root)
        self.gets: list[str] = []

    def get(self, key):
        self.gets.append(key)
        return super().get(key)


def grow(tmp_path, signer, batches):
    sealer = Sealer(archive.LocalStore(tmp_path / "archive"), tmp_path / "sealer", signer, signer.name)
    sealer.open()
    for records in batches:
        sealer.process(journal_batch(records, Position(1, records[-1][1].end)))


def test_a_second_run_reads_only_the_new_objects_and_agrees_with_a_full_run(tmp_path):
    signer = Signer.generate("auditseal.test")
    batches = journal_batches([("acme", 10), ("acme", 10), ("globex", 5), ("acme", 7), ("acme", 4)])
    grow(tmp_path, signer, batches[:3])
    store = CountingStore(tmp_path / "archive")
    first = verify_store(store, [signer.verifier()], {}, incremental=True)
    assert first.findings == [] and first.events_verified == 25
    grow(tmp_path, signer, batches[3:])
    store.gets.clear()
    second = verify_store(store, [signer.verifier()], first.state, incremental=True)
    assert second.findings == [] and second.events_verified == 11 and second.segments_total == 2
    # Read: acme's remembered checkpoint (2), its two new checkpoints and segments; globex: its
    # remembered checkpoint only.
    assert sorted(store.gets) == sorted(
        [
            f"acme/0/{archive.checkpoint_key(2)}",
            f"acme/0/{archive.checkpoint_key(3)}",
            f"acme/0/{archive.checkpoint_key(4)}",
            f"acme/0/{archive.segment_key(20, 7)}",
            f"acme/0/{archive.segment_key(27, 4)}",
            f"globex/0/{archive.checkpoint_key(1)}",
        ]
    )
    full = verify_store(archive.LocalStore(tmp_path / "archive"), [signer.verifier()], {})
    assert full.findings == [] and full.state == second.state


def test_new_segments_are_checked_fully_and_a_changed_past_is_a_fork(tmp_path):
    signer = Signer.generate("auditseal.test")
    batches = journal_batches([("acme", 10), ("acme", 10)])
    grow(tmp_path, signer, batches[:1])
    state = verify_store(archive.LocalStore(tmp_path / "archive"), [signer.verifier()], {}, incremental=True).state
    grow(tmp_path, signer, batches[1:])
    segment = tmp_path / "archive" / "acme" / "0" / archive.segment_key(10, 10)
    segment.chmod(0o644)
    blob = bytearray(segment.read_bytes())
    import lz4.frame

    lines = lz4.frame.decompress(bytes(blob)).splitlines()
    lines[0], lines[1] = lines[1], lines[0]
    segment.write_bytes(archive.encode_segment(lines))
    report = verify_store(archive.LocalStore(tmp_path / "archive"), [signer.verifier()], state, incremental=True)
    assert [f.code for f in report.findings] == [SEGMENT_HASH_MISMATCH]
    # A different history under the remembered checkpoint number: a fork.
    forged = dict(state)
    forged["acme/0"] = {**state["acme/0"], "root": "A" * 43 + "="}
    report = verify_store(archive.LocalStore(tmp_path / "archive"), [signer.verifier()], forged, incremental=True)
    assert [f.code for f in report.findings] == [FORK, SEGMENT_HASH_MISMATCH]  # the swap is still there


def test_incremental_cannot_compare_an_index():
    with pytest.raises(ValueError, match="every leaf"):
        verify_store(archive.LocalStore("/nonexistent"), [], {}, index=lambda t: [], incremental=True)
