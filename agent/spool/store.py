"""The agent's write-ahead spool: events and input positions, durable before anything ships.

Built on ``auditseal.storage.segments`` (record framing v1, magic ``ASPL``). Record kinds:

- ``EVENT`` (1): seq = the event's ``event.sequence``; payload = canonical event bytes.
- ``POSITIONS`` (2): seq = next sequence to assign; payload = JSON
  ``{"inputs": {input name: {file key: state}}}``, the input positions that the events
  before it cover. Every append ends with one, in the same fsync: it is the commit marker,
  so events and the file offsets they came from are committed atomically. Events after
  the last one (a crash mid-append) are dropped on start and read again from their files
  with the same sequence numbers.

The ledger ``acked.json`` (temporary file, fsync, rename) holds::

    {"version": 1, "acked_seq": n,
     "resume": {"next_seq": k, "inputs": {...}},   # positions whose events are all acked
     "gaps": [[first, last], ...]}                  # lost ranges not yet declared upstream

Whole segments are deleted once every event in them is acknowledged; the newest segment
is never deleted. Recovery never refuses to start: a torn tail is cut; a corrupt record is
passed over; a missing segment or an unreadable ledger is rebuilt from what is on disk;
sequence numbers that cannot be recovered become declared gaps (see ``wire``).
"""

from __future__ import annotations

from pathlib import Path

import orjson

from auditseal import crashpoints
from auditseal.formats.records import HEADER_SIZE
from auditseal.storage.files import write_atomic
from auditseal.storage.segments import Position, SegmentLog

from .ledger import EVENT, LEDGER_VERSION, MAGIC, POSITIONS, Recovered, ResumeTracker, holes


class Spool:
    def __init__(self, directory: Path, max_segment_bytes: int, max_bytes: int | None = None):
        self.directory = Path(directory)
        self.log = SegmentLog(self.directory / "segments", MAGIC, max_segment_bytes, frozenset({EVENT, POSITIONS}))
        self.ledger_path = self.directory / "acked.json"
        self.max_bytes = max_bytes
        self.next_seq = 1
        self.acked_seq = 0
        self.resume: dict = {"next_seq": 1, "inputs": {}}
        self.gaps: list[tuple[int, int]] = []
        self._sizes: dict[int, int] = {}
        self._resume = ResumeTracker()  # the commits the shipper's reads have passed
        self._unsaved_resume: dict | None = None

    # -- recovery ----------------------------------------------------------------------
    def open(self) -> Recovered:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log.open()
        found = Recovered(torn_tail=self.log.recovered_tail)
        if found.torn_tail:
            found.degraded.append(f"torn tail cut: {found.torn_tail}")
        ids = self.log.segment_ids()
        missing_ids = [i for i in range(ids[0], ids[-1] + 1) if i not in ids] if ids else []
        if missing_ids:
            found.degraded.append(f"spool segments missing: {missing_ids}")
        event_seqs: list[int] = []
        last_positions = None
        for segment in ids:
            scan = self.log.scan_segment(segment)
            for start, end, reason in scan.corrupt:
                found.degraded.append(f"segment {segment}: bytes {start}-{end} unreadable ({reason})")
            if segment == self.log.active_segment:
                scan = self._drop_uncommitted(scan, found)
            for record in scan.records:
                if record.kind == EVENT:
                    event_seqs.append(record.seq)
                elif record.kind == POSITIONS:
                    last_positions = record
        # Segments are deleted only once acknowledged: what precedes the oldest segment was
        # acked. Segment 1 still present means nothing was ever deleted.
        first_event = event_seqs[0] if event_seqs and ids and ids[0] > 1 else None
        ledger = self._read_ledger(found, first_event)
        # Positions: the newer of the spool's last commit and the ledger's acked resume point.
        resume = ledger.get("resume") or {"next_seq": 1, "inputs": {}}
        if last_positions is not None and last_positions.seq >= resume["next_seq"]:
            found.next_seq = last_positions.seq
            found.positions = orjson.loads(last_positions.payload)["inputs"]
        else:
            found.next_seq, found.positions = resume["next_seq"], resume["inputs"]
        found.acked_seq = ledger["acked_seq"]
        # Sequence numbers neither acked nor in the spool are lost: declare them.
        known_gaps = [tuple(g) for g in ledger.get("gaps", [])]
        for gap in holes(sorted(event_seqs), found.acked_seq, found.next_seq):
            if not any(a <= gap[0] and gap[1] <= b for a, b in known_gaps):
                found.lost.append(gap)
        self.next_seq, self.acked_seq = found.next_seq, found.acked_seq
        self.resume = {"next_seq": resume["next_seq"], "inputs": resume["inputs"]}
        self.gaps = sorted(set(known_gaps) | set(found.lost))
        self._sizes = {i: self.log.segment_size(i) for i in self.log.segment_ids()}
        if found.lost or found.degraded:
            self._write_ledger()
        return found

    def _drop_uncommitted(self, scan, found: Recovered):
        commits = [r.end for r in scan.records if r.kind == POSITIONS]
        committed = commits[-1] if commits else HEADER_SIZE
        if committed < self.log.end.offset:
            found.degraded.append(f"uncommitted events after offset {committed} dropped (re-read)")
            self.log.truncate_active(committed)
            scan.records = [r for r in scan.records if r.end <= committed]
        return scan

    def _read_ledger(self, found: Recovered, first_event: int | None) -> dict:
        rebuilt = {"acked_seq": max(first_event - 1, 0) if first_event else 0, "resume": None, "gaps": []}
        if not self.ledger_path.exists():
            if first_event and first_event > 1:
                found.degraded.append("ack ledger missing: rebuilt from the spool")
            return rebuilt
        try:
            ledger = orjson.loads(self.ledger_path.read_bytes())
            int(ledger["acked_seq"])
            return ledger
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            found.degraded.append(
                "ack ledger unreadable: rebuilt from the spool (unacked events resent, "
                "the collector drops the duplicates)"
            )
            return rebuilt

    # -- writing -----------------------------------------------------------------------
    def append(self, events: list[bytes], first_seq: int, positions: dict) -> Position:
        """Append events numbered from ``first_seq`` and the positions they cover; fsync."""
        next_seq = first_seq + len(events)
        items = [(EVENT, first_seq + i, payload) for i, payload in enumerate(events)]
        items.append((POSITIONS, next_seq, orjson.dumps({"inputs": positions})))
        end = self.log.append(items)
        self._sizes[end.segment] = end.offset
        self.next_seq = next_seq
        return end

    def size_bytes(self) -> int:
        return sum(self._sizes.values())

    def has_room(self, incoming: int) -> bool:
        """Bounded spool: an append must leave the spool within ``max_bytes``."""
        return (
            self.max_bytes is None
            or self.size_bytes() + incoming <= self.max_bytes
            or self.next_seq - 1 <= self.acked_seq
        )  # an empty spool always takes one append

    def read(self, start: Position, max_bytes: int = 4 * 1024 * 1024):
        """Records from ``start`` on (about ``max_bytes``); the commits among them are
        remembered for the resume point."""
        records, nxt = self.log.read(start, max_bytes)
        for record in records:
            if record.kind == POSITIONS:
                self._resume.seen(record.seq, record.payload)
        return records, nxt

    def start_position(self) -> Position:
        return self.log.first_position()

    # -- acknowledgement ---------------------------------------------------------------
    def acknowledge(self, acked_seq: int, resume_at: Position, resume: dict | None | bool = True) -> int:
        """Record the collector's ack durably, then drop segments wholly before ``resume_at``.

        ``resume``: the newest POSITIONS state whose events are all acknowledged — by default
        the spool's own, from the commits ``read`` has passed."""
        if resume is True:
            # Taken from the tracker once; kept until a ledger write with it succeeds.
            resume = self._resume.resume_for(acked_seq) or self._unsaved_resume
            self._unsaved_resume = resume
        if acked_seq <= self.acked_seq:
            return 0
        before = (self.acked_seq, self.resume, self.gaps)
        self.acked_seq = acked_seq
        if resume is not None:
            self.resume = resume
        # A range ending at the ack itself (a dead-lettered batch) is still to be declared.
        self.gaps = [g for g in self.gaps if g[1] >= acked_seq]
        try:
            self._write_ledger()
        except OSError:  # disk full: nothing recorded; the caller tries the same ack again
            self.acked_seq, self.resume, self.gaps = before
            raise
        self._unsaved_resume = None
        crashpoints.hit("after_ack_before_delete")
        removed = self.log.delete_before(resume_at.segment)
        if removed:
            kept = set(self.log.segment_ids())
            self._sizes = {sid: size for sid, size in self._sizes.items() if sid in kept}
        return removed

    def _write_ledger(self) -> None:
        write_atomic(
            self.ledger_path,
            orjson.dumps(
                {
                    "version": LEDGER_VERSION,
                    "acked_seq": self.acked_seq,
                    "resume": self.resume,
                    "gaps": [list(g) for g in self.gaps],
                }
            ),
        )

    def gaps_before(self, last_seq: int) -> list[tuple[int, int]]:
        """Declared lost ranges that a batch ending at ``last_seq`` skips over."""
        return [g for g in self.gaps if g[0] <= last_seq and g[1] >= self.acked_seq]

    def declare_lost(self, first: int, last: int) -> None:
        """Sequences that will never reach a collector (a batch refused for good): declared
        with the next batch. Recorded by the acknowledgement that follows."""
        self.gaps = sorted(set(self.gaps) | {(first, last)})

    def segment_count(self) -> int:
        return len(self.log.segment_ids())

    def close(self) -> None:
        self.log.close()
