"""The records of a log's latest appends, kept in memory for the one reader that follows the
writer closely (the agent's shipper), so what was just appended is not read back from disk,
framed and CRC-checked a second time (pure: no I/O).

Appends are added once durable; a read at a record boundary inside one of them takes records
from memory, and a read anywhere else misses (the caller reads the file). Whatever the reader
has passed is dropped, and the oldest appends go first past ``max_bytes`` of payload, so a
reader that falls behind costs bounded memory and reads from disk as before. Thread-safe: the
writer adds from its thread while the reader takes on another.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from typing import NamedTuple

from auditseal.formats.records import Record


class _Append(NamedTuple):
    segment: int
    records: list[Record]  # in offset order
    payload_bytes: int


class RecentAppends:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._appends: deque[_Append] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def held_bytes(self) -> int:
        return self._bytes

    def add(self, segment: int, records: list[Record]) -> None:
        """The records of one durable append to ``segment`` (an append larger than the
        bound is not kept)."""
        size = sum(len(r.payload) for r in records)
        if not records or size > self.max_bytes:
            return
        with self._lock:
            self._appends.append(_Append(segment, records, size))
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._bytes -= self._appends.popleft().payload_bytes

    def take(self, segment: int, offset: int, max_bytes: int) -> tuple[list[Record], int] | None:
        """Records from the one starting at (``segment``, ``offset``), about ``max_bytes`` of
        payload (at least one), and the offset after them; None when not held."""
        with self._lock:
            appends = self._appends
            # What the reader has passed is never asked for again.
            while appends and (
                appends[0].segment < segment or (appends[0].segment == segment and appends[0].records[-1].end <= offset)
            ):
                self._bytes -= appends.popleft().payload_bytes
            if not appends or appends[0].segment != segment:
                return None
            records = appends[0].records
            i = bisect.bisect_left(records, offset, key=_offset)
            if i == len(records) or records[i].offset != offset:
                return None
            taken, size = [], 0
            for record in records[i:]:
                if taken and size + len(record.payload) > max_bytes:
                    break
                taken.append(record)
                size += len(record.payload)
            return taken, taken[-1].end


def _offset(record: Record) -> int:
    return record.offset
