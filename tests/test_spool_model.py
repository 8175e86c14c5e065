"""The spool against a plain list model, with crashes at any point of an append.

Model: the committed events (sequence → payload) and the acknowledged sequence. A crash
tears the newest append anywhere; recovery must give back exactly the committed events
after the acked sequence, the next sequence to assign, and the positions committed with
the last whole append — never a loss, a duplicate, or a declared gap.
"""

import shutil
import tempfile
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agent.spool import EVENT, Spool
from auditseal.storage.segments import Position

SEGMENT = 64 * 1024


class SpoolMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="spool-model-"))
        self.spool = Spool(self.dir, SEGMENT)
        self.spool.open()
        self.committed: dict[int, bytes] = {}
        self.acked = 0
        self.next_seq = 1
        self.positions: dict = {}
        self.appends = 0

    def teardown(self):
        self.spool.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=8))
    def append(self, sizes):
        self.appends += 1
        payloads = [bytes([65 + (self.next_seq + i) % 26]) * n for i, n in enumerate(sizes)]
        positions = {"in": {"f": {"offset": self.appends}}}
        self.spool.append(payloads, self.next_seq, positions)
        for i, p in enumerate(payloads):
            self.committed[self.next_seq + i] = p
        self.next_seq += len(payloads)
        self.positions = positions

    @precondition(lambda self: self.next_seq - 1 > self.acked)
    @rule(data=st.data())
    def acknowledge(self, data):
        upto = data.draw(st.integers(self.acked + 1, self.next_seq - 1))
        # The position just after event ``upto`` in the spool.
        pos, resume_at = self.spool.start_position(), None
        while resume_at is None:
            found, pos = self.spool.read(pos)
            hit = [r for r in found if r.kind == EVENT and r.seq == upto]
            if hit:
                resume_at = Position(pos.segment, hit[0].end)
        self.spool.acknowledge(upto, resume_at, None)
        self.acked = upto

    @rule(keep=st.floats(0.0, 0.999), sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=8))
    def crash_mid_append(self, keep, sizes):
        """Part of an append reaches the disk, then the process dies."""
        from auditseal.formats import records

        blob = b"".join(records.encode_record(EVENT, self.next_seq + i, b"z" * n) for i, n in enumerate(sizes))
        blob += records.encode_record(2, self.next_seq + len(sizes), b'{"inputs":{}}')
        self.spool.log._file.write(blob[: int(len(blob) * keep)])
        self.spool.log._file.flush()
        self.restart()

    @rule()
    def restart(self):
        self.spool.close()
        self.spool = Spool(self.dir, SEGMENT)
        found = self.spool.open()
        assert found.lost == []
        assert found.next_seq == self.next_seq
        assert found.positions == self.positions
        assert found.acked_seq == self.acked

    @invariant()
    def spool_holds_exactly_the_unacked_committed_events(self):
        got, pos = {}, self.spool.start_position()
        while True:
            found, pos = self.spool.read(pos)
            if not found:
                break
            for r in found:
                if r.kind == EVENT and r.seq > self.acked:
                    assert r.seq not in got, f"sequence {r.seq} twice"
                    got[r.seq] = r.payload
        expected = {s: p for s, p in self.committed.items() if s > self.acked}
        assert got == expected


SpoolMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
TestSpoolModel = SpoolMachine.TestCase
