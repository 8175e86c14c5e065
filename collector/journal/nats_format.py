"""How the NATS journal lays batches out on JetStream (pure: no I/O).

Subjects: ``<prefix>.p<partition>.<agent token>`` — one subject per writing agent, so the
stream's per-subject expected-sequence check (``Nats-Expected-Last-Subject-Sequence``) makes
"advance this agent's mark" and "store its events" one atomic step on every collector.
Agent ids are escaped into one subject token (``escape_token``).

Message data (version 1)::

    0x01 | count:u32be | (length:u32be | payload)*count

each payload one journal batch record (``journal.batch``, one per tenant). Headers:
``Nats-Msg-Id`` = ``<agent>:<first>-<last>`` (the sequence range it stores; JetStream drops a
repeat inside its duplicate window), ``Auditseal-Agent``, ``Auditseal-Last-Seq`` (the agent's
mark after this message).
"""

from __future__ import annotations

import hashlib
import re
import struct

VERSION = 1
H_AGENT = "Auditseal-Agent"
H_LAST = "Auditseal-Last-Seq"
H_MSG_ID = "Nats-Msg-Id"
H_EXPECT = "Nats-Expected-Last-Subject-Sequence"
_PLAIN = re.compile(rb"[A-Za-z0-9_-]")
_ESCAPED = re.compile(r"=([0-9a-f]{2})")


class FormatError(ValueError):
    """A message on the journal stream that is not a version-1 journal message."""


def escape_token(text: str) -> str:
    """One NATS subject token (and key-value key) for any text: [A-Za-z0-9_-] kept, every
    other byte ``=hh``."""
    if not text:
        raise ValueError("empty subject token")
    return "".join(chr(b) if _PLAIN.fullmatch(bytes([b])) else f"={b:02x}" for b in text.encode())


def unescape_token(token: str) -> str:
    out = bytearray()
    i = 0
    while i < len(token):
        m = _ESCAPED.match(token, i)
        if m:
            out.append(int(m.group(1), 16))
            i = m.end()
        else:
            out.extend(token[i].encode())
            i += 1
    return out.decode()


def partition_of(agent: str, partitions: int) -> int:
    """A stable partition for an agent (the same on every collector and release)."""
    return int.from_bytes(hashlib.sha256(agent.encode()).digest()[:8], "big") % partitions


def subject(prefix: str, agent: str, partitions: int = 1) -> str:
    return f"{prefix}.p{partition_of(agent, partitions)}.{escape_token(agent)}"


def msg_id(agent: str, first: int, last: int) -> str:
    return f"{agent}:{first}-{last}"


def encode_message(payloads: list[bytes]) -> bytes:
    parts = [bytes([VERSION]), struct.pack(">I", len(payloads))]
    for p in payloads:
        parts += [struct.pack(">I", len(p)), p]
    return b"".join(parts)


def decode_message(data: bytes) -> list[bytes]:
    if len(data) < 5 or data[0] != VERSION:
        raise FormatError(f"journal message version {data[:1].hex() or 'none'} is not {VERSION:02x}")
    (count,) = struct.unpack_from(">I", data, 1)
    at, out = 5, []
    for _ in range(count):
        if at + 4 > len(data):
            raise FormatError("journal message cut short")
        (n,) = struct.unpack_from(">I", data, at)
        at += 4
        if at + n > len(data):
            raise FormatError("journal message cut short")
        out.append(data[at : at + n])
        at += n
    if at != len(data):
        raise FormatError("journal message has bytes after its last record")
    return out


def partitions_kept(metadata: dict | None, description: str | None) -> str:
    """The partition count a journal stream was created with: its metadata (nats-server 2.10+),
    else its description (older servers keep no metadata), else 1 (a stream from before
    partitions)."""
    if metadata and "auditseal.partitions" in metadata:
        return metadata["auditseal.partitions"]
    found = re.search(r"\bpartitions=(\d+)\b", description or "")
    return found.group(1) if found else "1"


def worth_purging(floor: int, purged_to: int, first_seq: int) -> bool:
    """Purge below ``floor`` only when that drops something: never below sequence 1 or the
    stream's first — nats-server 2.9 purges the whole stream when asked to purge below 1
    (measured), 2.10+ nothing — nor again below what was purged."""
    return floor > max(purged_to, first_seq, 1)


def read_headers(headers) -> tuple[str, int]:
    """(agent, mark after the message) from a journal message's headers; ``FormatError`` when
    they are not a collector's (missing, or a mark that is not a decimal number)."""
    agent = (headers or {}).get(H_AGENT, "")
    last = (headers or {}).get(H_LAST, "")
    if not agent or not last.isascii() or not last.isdigit() or len(last) > 20:
        raise FormatError(f"journal message headers lack {H_AGENT} or a numeric {H_LAST}")
    return agent, int(last)


def purge_floor(last_seq: int, consumers: list[tuple[int, int, int, int | None] | None]) -> int:
    """The stream sequence below which every consumer has acknowledged all it reads, from
    each one's (pending, ack pending, ack floor, next match) as JetStream reports it after
    ``last_seq`` was read; ``None`` (a consumer not created yet: it needs everything) gives 0.
    A consumer with work left has passed what lies below its ack floor. One that reports none
    has passed all up to ``last_seq`` (a partition's sealer, idle while other partitions
    fill the stream) unless the stream holds a message on its subjects after its ack floor
    (``next match``, that message's sequence): its counters were not yet true. A consumer
    recreated at a sealer's cursor reported (0, 0, 0) for a moment, and the purge this
    allowed dropped 44 messages the sealer had not read (found by the chaos test)."""
    floor = last_seq + 1
    for consumer in consumers:
        if consumer is None:
            return 0
        pending, ack_pending, ack_floor, next_match = consumer
        if pending or ack_pending:
            floor = min(floor, ack_floor + 1)
        elif next_match is not None:
            floor = min(floor, next_match)
    return floor


def skipped_delivery(
    last_consumer_seq: int, consumer_seq: int, last_stream_seq: int, stream_seq: int, whole_stream: bool
) -> str | None:
    """Why a sink's durable consumer (ack-all, an hour's ack wait) must be read again from the
    sink's cursor before ``stream_seq`` is taken, or ``None``. A delivery the consumer made but
    this reader never received — a pull answer lost when a NATS node froze or the consumer's
    leader moved — would not come again for an hour, and acknowledging a later message would
    pass it for good. It shows as a jump in the consumer's delivery sequence (1 after a
    subscribe); for a consumer of the whole stream also as a jump in stream sequences after the
    first message (before it, the start may lie purged)."""
    if consumer_seq > last_consumer_seq + 1:
        return f"consumer deliveries {last_consumer_seq + 1}..{consumer_seq - 1} never arrived"
    if whole_stream and last_stream_seq and stream_seq > last_stream_seq + 1:
        return f"stream messages {last_stream_seq + 1}..{stream_seq - 1} skipped"
    return None


def purged_unread(start_seq: int, first_seq: int, whole_stream: bool) -> str | None:
    """What was purged before a sink read it, seen at the first message (stream sequence
    ``first_seq``) of a consumer of the whole stream started at the sink's cursor
    ``start_seq``: every stream message lies on its subjects, so any hole is loss. Purges
    keep what every consumer needs; this names the loss should one ever pass that check."""
    if whole_stream and first_seq > start_seq:
        return f"stream messages {start_seq}..{first_seq - 1} purged before this sink read them"
    return None
