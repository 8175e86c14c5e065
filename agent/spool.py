"""The agent's write-ahead spool: events and input positions, durable before anything ships.

Built on ``auditseal.segments`` (record framing v1, magic ``ASPL``). Record kinds:

- ``EVENT`` (1): seq = the event's ``event.sequence``; payload = canonical event bytes.
- ``POSITIONS`` (2): seq = next sequence to assign; payload = JSON
  ``{"inputs": {input name: {file key: state}}}``, the input positions that the events
  before it cover. Every append ends with one, in the same fsync, so events and the file
  offsets they came from are committed atomically: a crash never re-reads a spooled line.

The ack ledger ``acked.json`` (written to a temporary file, fsynced, renamed) holds the
highest sequence the collector acknowledged. Whole segments are deleted once every event
in them is acknowledged; the newest segment is never deleted, so the latest POSITIONS
record always survives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import orjson

from auditseal.records import HEADER_SIZE
from auditseal.segments import Position, SegmentLog, write_atomic

MAGIC = b"ASPL"
EVENT = 1
POSITIONS = 2


@dataclass
class Recovered:
    next_seq: int = 1
    positions: dict = field(default_factory=dict)
    acked_seq: int = 0
    torn_tail: str | None = None


class Spool:
    def __init__(self, directory: Path, max_segment_bytes: int):
        self.directory = Path(directory)
        self.log = SegmentLog(self.directory / "segments", MAGIC, max_segment_bytes)
        self.ledger_path = self.directory / "acked.json"
        self.next_seq = 1
        self.acked_seq = 0

    def open(self) -> Recovered:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log.open()
        found = Recovered(torn_tail=self.log.recovered_tail)
        # A POSITIONS record commits the events before it: events after the last one were
        # torn from their commit by a crash and will be read again from their input.
        newest = self.log.segment_records(self.log.active_segment)
        commits = [r.end for r in newest if r.kind == POSITIONS]
        committed = commits[-1] if commits else HEADER_SIZE
        if committed < self.log.end.offset:
            found.torn_tail = (found.torn_tail or "") + f" uncommitted events after {committed} dropped"
            self.log.truncate_active(committed)
        # The newest POSITIONS record is in the newest segment that has one.
        for segment in reversed(self.log.segment_ids()):
            last = None
            for record in self.log.segment_records(segment):
                if record.kind == POSITIONS:
                    last = record
            if last is not None:
                found.next_seq = last.seq
                found.positions = orjson.loads(last.payload)["inputs"]
                break
        if self.ledger_path.exists():
            found.acked_seq = int(orjson.loads(self.ledger_path.read_bytes())["acked_seq"])
        self.next_seq, self.acked_seq = found.next_seq, found.acked_seq
        return found

    def append(self, events: list[bytes], first_seq: int, positions: dict) -> Position:
        """Append events numbered from ``first_seq`` and the positions they cover; fsync."""
        next_seq = first_seq + len(events)
        items = [(EVENT, first_seq + i, payload) for i, payload in enumerate(events)]
        items.append((POSITIONS, next_seq, orjson.dumps({"inputs": positions})))
        end = self.log.append(items)
        self.next_seq = next_seq
        return end

    def read(self, start: Position):
        return self.log.read(start)

    def start_position(self) -> Position:
        return self.log.first_position()

    def acknowledge(self, acked_seq: int, resume: Position) -> int:
        """Record the collector's ack durably, then drop segments wholly before ``resume``."""
        if acked_seq <= self.acked_seq:
            return 0
        write_atomic(self.ledger_path, orjson.dumps({"acked_seq": acked_seq}))
        self.acked_seq = acked_seq
        return self.log.delete_before(resume.segment)

    def segment_count(self) -> int:
        return len(self.log.segment_ids())

    def close(self) -> None:
        self.log.close()
