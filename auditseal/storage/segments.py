"""A directory of append-only segment files of framed records (see ``records``).

Files are named ``<segment id, 12 digits>.seg``; ids only grow. Appends go to the newest
segment and are fsynced before ``append`` returns. Opening cuts a torn tail off the newest
segment (a crash mid-append) and reports it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from auditseal import crashpoints
from auditseal.formats import records
from auditseal.storage.files import fsync_dir, write_atomic  # noqa: F401  (re-exported)

SUFFIX = ".seg"


@dataclass(frozen=True, order=True)
class Position:
    segment: int
    offset: int


def _read_at(path: Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(max(size, 0))


def _decode(data: bytes, base: int) -> tuple[list[records.Record], records.DecodeStop]:
    stop = records.DecodeStop(base, None)
    return list(records.decode_records(data, 0, base=base, stop=stop)), stop


class SegmentLog:
    def __init__(
        self,
        directory: Path,
        magic: bytes,
        max_segment_bytes: int = 64 * 1024 * 1024,
        kinds: frozenset[int] = frozenset({1, 2, 3}),
    ):
        self.directory = Path(directory)
        self.magic = magic
        self.kinds = kinds  # record kinds this log writes: what resync looks for
        self.max_segment_bytes = max_segment_bytes
        self._file = None
        self._active = 0
        self._size = 0
        self.recovered_tail: str | None = None  # why the tail was cut on open, if it was
        self.unreadable: list[tuple[str, int, int, str]] = []  # (segment file, start, end, reason)

    # -- layout ---------------------------------------------------------------------------
    def _path(self, segment: int) -> Path:
        return self.directory / f"{segment:012d}{SUFFIX}"

    def segment_ids(self) -> list[int]:
        return sorted(
            int(p.name[: -len(SUFFIX)]) for p in self.directory.glob(f"*{SUFFIX}") if p.name[: -len(SUFFIX)].isdigit()
        )

    # -- open / recover -------------------------------------------------------------------
    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        ids = self.segment_ids()
        if not ids:
            self._start_segment(1)
            return
        last = ids[-1]
        path = self._path(last)
        data = path.read_bytes()
        if records.check_header(data, self.magic) is not None:
            # A crash while creating the segment: nothing in it was ever acknowledged.
            self.recovered_tail = "unreadable header of newest segment"
            path.unlink()
            fsync_dir(self.directory)
            self._start_segment(last)
            return
        found = records.scan(data, records.HEADER_SIZE, 0, self.kinds)
        end = len(data)
        if found.torn_at is not None:
            # A crash mid-append: nothing in the torn tail was ever synced and acknowledged.
            self.recovered_tail = f"{path.name}@{found.torn_at}: torn tail cut"
            with open(path, "r+b") as f:
                f.truncate(found.torn_at)
                os.fsync(f.fileno())
            end = found.torn_at
        self._active = last
        self._file = open(path, "ab")
        self._size = end

    def _start_segment(self, segment: int) -> None:
        if self._file is not None:
            self._file.close()
        path = self._path(segment)
        self._file = open(path, "wb")
        self._file.write(records.encode_header(self.magic))
        self._file.flush()
        os.fsync(self._file.fileno())
        fsync_dir(self.directory)
        self._active = segment
        self._size = records.HEADER_SIZE

    @property
    def active_segment(self) -> int:
        return self._active

    @property
    def end(self) -> Position:
        return Position(self._active, self._size)

    def first_position(self) -> Position:
        ids = self.segment_ids()
        return Position(ids[0] if ids else self._active, records.HEADER_SIZE)

    # -- append ---------------------------------------------------------------------------
    def append(self, items: list[tuple[int, int, bytes]], sync: bool = True) -> Position:
        """Append (kind, seq, payload) records, fsync, and return the end position."""
        if self._size >= self.max_segment_bytes:
            self._start_segment(self._active + 1)
        blob = b"".join(records.encode_record(k, s, p) for k, s, p in items)
        crashpoints.torn_write("mid_append", self._file, blob)
        try:
            self._file.write(blob)
            self._file.flush()
            if sync:
                os.fdatasync(self._file.fileno())
        except OSError:
            # Disk full or I/O error: leave no partial record behind, let the caller retry.
            self._discard_partial()
            raise
        self._size += len(blob)
        return Position(self._active, self._size)

    def _discard_partial(self) -> None:
        path = self._path(self._active)
        try:
            self._file.close()
        except OSError:
            pass  # the buffered bytes could not be written either: nothing more to discard
        with open(path, "r+b") as f:
            f.truncate(self._size)
        self._file = open(path, "ab")

    # -- read -----------------------------------------------------------------------------
    def read(self, start: Position, max_bytes: int = 4 * 1024 * 1024) -> tuple[list[records.Record], Position]:
        """Records from ``start`` on (within one segment, about ``max_bytes``), and where to go next.

        Reads only what has been appended; moves to the next segment at the end of one. A
        corrupt stretch is passed over (resync to the next valid record) and noted in
        ``unreadable``; callers see the sequence numbers it held as missing.
        """
        segment, offset = start.segment, start.offset
        while True:
            path = self._path(segment)
            try:
                limit = self._size if segment == self._active else path.stat().st_size
                # At least a record header: a smaller read could not tell a record from damage.
                data = _read_at(path, offset, min(max(max_bytes, records.RECORD_OVERHEAD), limit - offset))
            except FileNotFoundError:
                limit, data = offset, b""
            found, stop = _decode(data, offset)
            if not found and stop.reason is not None:
                need = (
                    records.RECORD_OVERHEAD + records.RECORD_HEAD.unpack_from(data)[0]
                    if len(data) >= records.RECORD_OVERHEAD
                    else None
                )
                if stop.reason == "torn record payload" and need is not None and offset + need <= limit:
                    # One record larger than max_bytes: read exactly that record.
                    found, stop = _decode(_read_at(path, offset, need), offset)
                if not found:
                    offset = self._skip_corrupt(path, offset, limit, stop.reason)
                    if offset < limit:
                        continue
                    stop.offset = offset
            if found or segment >= self._active:
                return found, Position(segment, stop.offset)
            segment, offset = self._next_segment(segment), records.HEADER_SIZE

    def _skip_corrupt(self, path: Path, offset: int, limit: int, reason: str | None) -> int:
        """Offset of the next valid record after a corrupt one (or ``limit``); noted."""
        rest = _read_at(path, offset, limit - offset)
        resume = records.find_next_record(rest, 1, self.kinds)
        end = limit if resume is None else offset + resume
        self.unreadable.append((path.name, offset, end, reason or "unreadable"))
        return end

    def segment_size(self, segment: int) -> int:
        if segment == self._active:
            return self._size
        try:
            return self._path(segment).stat().st_size
        except FileNotFoundError:
            return 0

    def segment_records(self, segment: int) -> list[records.Record]:
        """Every valid record of one segment (recovery scans), past corrupt stretches."""
        return self.scan_segment(segment).records

    def scan_segment(self, segment: int) -> records.Scan:
        data = self._path(segment).read_bytes()
        if records.check_header(data, self.magic) is not None:
            return records.Scan([], [(0, len(data), "bad segment header")], None)
        limit = self._size if segment == self._active else len(data)
        return records.scan(data[:limit], records.HEADER_SIZE, 0, self.kinds)

    def _next_segment(self, segment: int) -> int:
        later = [s for s in self.segment_ids() if s > segment]
        return later[0] if later else self._active

    # -- retention ------------------------------------------------------------------------
    def delete_before(self, segment: int) -> int:
        """Delete whole segments older than ``segment`` (never the active one)."""
        removed = 0
        for sid in self.segment_ids():
            if sid < segment and sid != self._active:
                self._path(sid).unlink(missing_ok=True)
                removed += 1
        if removed:
            fsync_dir(self.directory)
        return removed

    def truncate_active(self, offset: int) -> None:
        """Cut the newest segment back to ``offset`` (dropping an uncommitted tail)."""
        if not records.HEADER_SIZE <= offset <= self._size:
            raise ValueError(f"cannot truncate to {offset}")
        self._file.flush()
        os.ftruncate(self._file.fileno(), offset)
        os.fsync(self._file.fileno())
        self._size = offset

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
