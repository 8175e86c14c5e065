"""SegmentLog against a plain list model, with crashes (torn tails) at random points."""

from pathlib import Path

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from auditseal.storage.segments import Position, SegmentLog

MAGIC = b"TEST"


def read_all(log: SegmentLog, start: Position | None = None) -> list[bytes]:
    out, pos = [], start or log.first_position()
    while True:
        found, pos = log.read(pos, max_bytes=256)
        if not found:
            return out
        out.extend(r.payload for r in found)


def numbered(last_seq: int, payloads: list[bytes]) -> list[tuple[int, int, bytes]]:
    """Event records (kind 1) numbered on from ``last_seq``."""
    return [(1, last_seq + i, p) for i, p in enumerate(payloads, 1)]


def test_append_read_roll_and_delete(tmp_path):
    log = SegmentLog(tmp_path, MAGIC, max_segment_bytes=200)
    log.open()
    for i in range(30):
        log.append([(1, i, f"event-{i}".encode() * 3)])
    assert len(log.segment_ids()) > 3
    assert read_all(log) == [f"event-{i}".encode() * 3 for i in range(30)]
    before = len(log.segment_ids())
    assert log.delete_before(log.active_segment) == before - 1
    assert log.segment_ids() == [log.active_segment]
    assert read_all(log)[-1] == b"event-29" * 3


def test_reopen_cuts_a_torn_tail(tmp_path):
    log = SegmentLog(tmp_path, MAGIC)
    log.open()
    log.append([(1, 1, b"one"), (1, 2, b"two")])
    log.close()
    path = tmp_path / f"{1:012d}.seg"
    path.write_bytes(path.read_bytes()[:-2])
    again = SegmentLog(tmp_path, MAGIC)
    again.open()
    assert again.recovered_tail is not None and "torn" in again.recovered_tail
    assert read_all(again) == [b"one"]
    again.append([(1, 3, b"three")])
    assert read_all(again) == [b"one", b"three"]


def test_a_record_larger_than_the_read_size_is_still_read(tmp_path):
    log = SegmentLog(tmp_path, MAGIC)
    log.open()
    log.append([(1, 1, b"x" * 10_000), (1, 2, b"y")])
    assert read_all(log) == [b"x" * 10_000, b"y"]


def test_a_read_smaller_than_a_record_header_skips_nothing(tmp_path):
    """Found by the following-reader model: a read of fewer bytes than a record header took
    a sound record for damage and passed over it."""
    log = SegmentLog(tmp_path, MAGIC, max_segment_bytes=40)
    log.open()
    log.append(numbered(0, [b"a" * 30]))
    log.append(numbered(1, [b"", b"b"]))  # into segment 2
    position, seqs = log.first_position(), []
    for _ in range(10):
        found, position = log.read(position, max_bytes=1)
        seqs.extend(r.seq for r in found)
    assert seqs == [1, 2, 3] and log.unreadable == []


class SegmentLogMachine(RuleBasedStateMachine):
    """Model: the list of payloads appended and fsynced. A crash tears at most the tail."""

    def __init__(self):
        super().__init__()
        import tempfile

        self.dir = Path(tempfile.mkdtemp(prefix="seglog-"))
        self.log = SegmentLog(self.dir, MAGIC, max_segment_bytes=300)
        self.log.open()
        self.model: list[bytes] = []
        self.seq = 0

    @rule(payloads=st.lists(st.binary(min_size=0, max_size=120), min_size=1, max_size=5))
    def append(self, payloads):
        self.log.append(numbered(self.seq, payloads))
        self.seq += len(payloads)
        self.model.extend(payloads)

    @rule(tear=st.integers(1, 40))
    def crash_mid_append(self, tear):
        """A crash during an append leaves part of a record; nothing it held was synced."""
        self.log.close()
        newest = max(self.dir.glob("*.seg"))
        with open(newest, "ab") as f:
            f.write(b"\x00\x00\x00\x50" + b"\xab" * tear)
        self.log = SegmentLog(self.dir, MAGIC, max_segment_bytes=300)
        self.log.open()

    @rule()
    def restart(self):
        self.log.close()
        self.log = SegmentLog(self.dir, MAGIC, max_segment_bytes=300)
        self.log.open()

    @invariant()
    def log_reads_back_the_model(self):
        assert read_all(self.log) == self.model


SegmentLogMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=15, deadline=None)
TestSegmentLogModel = SegmentLogMachine.TestCase


def test_a_flipped_bit_mid_segment_costs_one_record_not_the_rest(tmp_path):
    log = SegmentLog(tmp_path, MAGIC)
    log.open()
    log.append([(1, i, f"record-{i}".encode() * 4) for i in range(1, 11)])
    log.close()
    path = tmp_path / f"{1:012d}.seg"
    data = bytearray(path.read_bytes())
    data[8 + 17 * 4 + len(b"record-1" * 4) * 4 + 20] ^= 0x10  # inside record 5's payload
    path.write_bytes(bytes(data))
    again = SegmentLog(tmp_path, MAGIC)
    again.open()
    assert again.recovered_tail is None  # not a torn tail: nothing after it is cut
    got = read_all(again)
    assert got == [f"record-{i}".encode() * 4 for i in range(1, 11) if i != 5]
    assert len(again.unreadable) == 1 and again.unreadable[0][3] == "crc mismatch"
    scan = again.scan_segment(1)
    assert [r.seq for r in scan.records] == [1, 2, 3, 4, 6, 7, 8, 9, 10] and len(scan.corrupt) == 1
    again.append([(1, 11, b"after")])
    assert read_all(again)[-1] == b"after"


class FollowingReaderMachine(RuleBasedStateMachine):
    """A reader that follows the writer with reads of any size (smaller than a record
    header too) across segment rolls gets every record once, in order, at the offsets the
    files hold, and never mistakes a sound record for damage."""

    def __init__(self):
        super().__init__()
        import tempfile

        self.dir = Path(tempfile.mkdtemp(prefix="seglog-follow-"))
        self.log = SegmentLog(self.dir, MAGIC, max_segment_bytes=400)
        self.log.open()
        self.position = self.log.first_position()
        self.read: list = []
        self.seq = 0

    @rule(payloads=st.lists(st.binary(min_size=0, max_size=120), min_size=1, max_size=6))
    def append(self, payloads):
        self.log.append(numbered(self.seq, payloads))
        self.seq += len(payloads)

    @rule(max_bytes=st.integers(1, 500))
    def follow(self, max_bytes):
        found, nxt = self.log.read(self.position, max_bytes)
        whole, _ = self.log.read(self.position, 1 << 20)
        assert found == whole[: len(found)]
        if found:
            assert nxt == Position(nxt.segment, found[-1].end)
        self.read.extend(found)
        self.position = nxt

    @invariant()
    def nothing_skipped_or_repeated(self):
        assert [r.seq for r in self.read] == list(range(1, len(self.read) + 1))
        assert self.log.unreadable == []


FollowingReaderMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestFollowingReader = FollowingReaderMachine.TestCase
