"""Segment record framing, format v1, shared by the agent spool and the collector journal.

A segment file starts with an 8-byte header::

    magic    4 bytes   b"ASPL" (agent spool) or b"ASJL" (collector journal)
    version  1 byte    0x01
    reserved 3 bytes   zero

then records, each::

    length   u32 big-endian   payload length in bytes
    crc      u32 big-endian   CRC-32 (zlib) over kind ‖ seq ‖ payload
    kind     u8               record kind, defined by the user of the log
    seq      u64 big-endian   sequence number, defined by the user of the log
    payload  length bytes

A record is valid only when it is complete and its CRC matches; decoding stops at the
first record that is not, and reports why. ``scan`` goes on past a corrupt stretch by
looking for the next valid record of a known kind (resync), so one flipped bit costs one
record, not the rest of the segment; a stretch that runs to the end is a torn tail.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import NamedTuple
from typing import Iterator

VERSION = 1
HEADER_SIZE = 8
RECORD_HEAD = struct.Struct(">IIBQ")  # length, crc, kind, seq
RECORD_OVERHEAD = RECORD_HEAD.size  # 17
MAX_PAYLOAD = 64 * 1024 * 1024
_CRC_PART = struct.Struct(">BQ")


def encode_header(magic: bytes) -> bytes:
    if len(magic) != 4:
        raise ValueError("magic must be 4 bytes")
    return magic + bytes([VERSION, 0, 0, 0])


def check_header(data: bytes, magic: bytes) -> str | None:
    """None when the header is ours, else the reason it is not."""
    if len(data) < HEADER_SIZE:
        return "short header"
    if data[:4] != magic:
        return f"bad magic {data[:4]!r}"
    if data[4] != VERSION:
        return f"unsupported version {data[4]}"
    return None


def encode_record(kind: int, seq: int, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(_CRC_PART.pack(kind, seq)))
    return RECORD_HEAD.pack(len(payload), crc, kind, seq) + payload


class Record(NamedTuple):  # a tuple: one is made per event read, a frozen dataclass costs 4x more
    offset: int  # where the record starts in its segment
    end: int  # where the next record starts
    kind: int
    seq: int
    payload: bytes


@dataclass
class DecodeStop:
    offset: int  # first byte not consumed
    reason: str | None  # None: clean end of data; else why decoding stopped


def decode_records(data: bytes, offset: int, base: int = 0, stop: DecodeStop | None = None) -> Iterator[Record]:
    """Yield valid records from ``data[offset:]``; ``base`` is added to reported offsets.

    ``stop`` (if given) is filled in with where and why decoding ended.
    """
    view = memoryview(data)
    size = len(data)
    reason = None
    while offset < size:
        if size - offset < RECORD_OVERHEAD:
            reason = "torn record header"
            break
        length, crc, kind, seq = RECORD_HEAD.unpack_from(data, offset)
        if length > MAX_PAYLOAD:
            reason = f"record length {length} too large"
            break
        end = offset + RECORD_OVERHEAD + length
        if end > size:
            reason = "torn record payload"
            break
        payload = bytes(view[offset + RECORD_OVERHEAD : end])
        if zlib.crc32(payload, zlib.crc32(_CRC_PART.pack(kind, seq))) != crc:
            reason = "crc mismatch"
            break
        yield Record(base + offset, base + end, kind, seq, payload)
        offset = end
    if stop is not None:
        stop.offset = base + offset
        stop.reason = reason


def _valid_at(data: bytes, offset: int, kinds: frozenset[int]) -> int | None:
    """End of the valid record starting at ``offset``, or None."""
    if len(data) - offset < RECORD_OVERHEAD or data[offset + 8] not in kinds:
        return None
    length, crc, kind, seq = RECORD_HEAD.unpack_from(data, offset)
    end = offset + RECORD_OVERHEAD + length
    if length > MAX_PAYLOAD or end > len(data):
        return None
    payload = data[offset + RECORD_OVERHEAD : end]
    if zlib.crc32(payload, zlib.crc32(_CRC_PART.pack(kind, seq))) != crc:
        return None
    return end


def find_next_record(data: bytes, start: int, kinds: frozenset[int]) -> int | None:
    """First offset ≥ ``start`` where a complete, CRC-valid record of a known kind begins."""
    for offset in range(start, len(data) - RECORD_OVERHEAD + 1):
        if data[offset + 8] in kinds and _valid_at(data, offset, kinds) is not None:
            return offset
    return None


@dataclass
class Scan:
    records: list[Record]
    corrupt: list[tuple[int, int, str]]  # (start, end, reason) of stretches passed over
    torn_at: int | None  # where a torn tail starts (no valid record after it), if any


def scan(data: bytes, offset: int, base: int, kinds: frozenset[int]) -> Scan:
    """Every valid record in ``data[offset:]``, resyncing past corrupt stretches."""
    found: list[Record] = []
    corrupt: list[tuple[int, int, str]] = []
    while offset < len(data):
        stop = DecodeStop(offset, None)
        found.extend(decode_records(data, offset, base, stop))
        offset = stop.offset - base
        if stop.reason is None:
            break
        resume = find_next_record(data, offset + 1, kinds)
        if resume is None:
            return Scan(found, corrupt, base + offset)
        corrupt.append((base + offset, base + resume, stop.reason))
        offset = resume
    return Scan(found, corrupt, None)
