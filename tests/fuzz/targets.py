"""Fuzz targets, one per decoder: bytes in, and nothing may escape but the documented refusal.

Each target takes arbitrary bytes and runs one decoder the way the programs do. Allowed:
``Rejected`` (a refusal with a reason) and the decoder's own documented error type. Anything
else is a finding. Run with atheris (``make fuzz``, ``tests/fuzz/run.py``); ``make test``
runs each for a few seconds (tests/test_fuzz.py).
"""

from __future__ import annotations

import datetime

import orjson

from agent.framing import Framer, FramingError
from agent.lines import Line, split_lines
from agent.normalise import Source, from_json_line
from agent.parsers.auditd import AuditLog
from agent.parsers.auth import AuthLog
from agent.parsers.syslog import parse_message
from auditseal.errors import Rejected
from auditseal.formats import storable, wire
from auditseal.formats.event import REQUIRED_FROM_AGENT, canonical_bytes
from auditseal.formats.records import DecodeStop, decode_records, scan
from auditseal.tls import PeerIdentity
from collector.ingest.admit import admit
from collector.journal import BatchMeta, decode_batch, encode_batch
from collector.sinks.stored import materialise

SOURCE = Source("acme", "fuzz-host")
NOW = "2026-12-01T00:00:00.000000Z"
NOW_DT = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
WHO = PeerIdentity("web-1", frozenset({"acme", "globex"}))
LIMITS = wire.Limits(max_decompressed_bytes=4 * 1024 * 1024)


def wire_body(data: bytes) -> None:
    """Ingest after the MAC: decompress, split, admit; what is admitted materialises."""
    try:
        lines, events = wire.split_events(wire.decompress(data, LIMITS), LIMITS)
        header = wire.BatchHeader("web-1", "k1", 0, 1, 1 << 40, "v1=")
        admitted, _ = admit(WHO, header, lines, events, NOW)
    except Rejected:
        return
    for _, tenant, line in admitted:
        _doc, stored = materialise(BatchMeta("web-1", tenant, NOW), line)
        storable.check(orjson.loads(stored), REQUIRED_FROM_AGENT)


def ndjson_events(data: bytes) -> None:
    """The same path without compression, so the fuzzer reaches admission directly."""
    try:
        lines, events = wire.split_events(data, LIMITS)
        admitted, _ = admit(WHO, wire.BatchHeader("web-1", "k1", 0, 1, 1 << 40, "v1="), lines, events, NOW)
    except Rejected:
        return
    for _, tenant, line in admitted:
        materialise(BatchMeta("web-1", tenant, NOW), line)


def json_line(data: bytes) -> None:
    """The agent's JSON line → event: refused with a reason, or storable once stamped."""
    try:
        doc = from_json_line(data, SOURCE, NOW)
    except Rejected:
        return
    doc["agent"] = {"id": "web-1"}
    doc["event"]["sequence"] = 1
    storable.check(doc, REQUIRED_FROM_AGENT)
    canonical_bytes(doc)


def record_framing(data: bytes) -> None:
    """Segment records (spool, journal): decode and scan any bytes without raising."""
    stop = DecodeStop(0, None)
    list(decode_records(data, 0, 0, stop))
    scan(data, 0, 0, frozenset({1, 2, 3}))
    try:
        decode_batch(data)
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        pass  # a corrupt journal payload is refused by its CRC before this; documented ValueError


def syslog(data: bytes) -> None:
    """RFC 6587 framing over a stream, then the RFC 3164/5424 message parser."""
    framer = Framer(64 * 1024)
    for cut in (len(data) // 3, len(data)):
        try:
            frames = framer.feed(data[:cut] if cut < len(data) else data[len(data) // 3 :])
        except FramingError:
            return
        for frame in frames:
            try:
                doc = parse_message(frame.data, NOW_DT)
                doc["event"]["created"] = NOW
                doc["organization"] = {"id": "acme"}
                storable.check_parsed(doc)
            except Rejected:
                continue


def _lines(data: bytes) -> list[Line]:
    return split_lines(data, 0, 64 * 1024).lines


def auditd(data: bytes) -> None:
    """The parser itself (the agent also has a line-by-line safety net, ``parse_safely``,
    which would hide its bugs from the fuzzer); its events must be storable."""
    for doc in AuditLog().parse(_lines(data), SOURCE, NOW, True).events:
        _storable_or_refused(doc)


def auth_log(data: bytes) -> None:
    for doc in AuthLog().parse(_lines(data), SOURCE, NOW, True).events:
        _storable_or_refused(doc)


def _storable_or_refused(doc: dict) -> None:
    try:
        storable.check_parsed(doc)
    except Rejected:
        pass  # dead-lettered with its reason by the agent


TARGETS = {f.__name__: f for f in (wire_body, ndjson_events, json_line, record_framing, syslog, auditd, auth_log)}


def _seed_events() -> list[bytes]:
    from auditseal.dev import samples

    out = [orjson.dumps(samples.event(n, "acme")) for n in range(5)]
    out += [
        b'{"event.action":"x","event.category":"iam","user.name":"a","labels":{"n":18446744073709551615}}',
        b'{"event":{"action":"x","category":["iam"]},"@timestamp":"0999-01-01T00:00:00+14:00","user":"a"}',
        b'{"event":{"action":"x","category":"iam"},"source":{"ip":"::1"},"x":[[[{"a":[1]}]]]}',
    ]
    return out


def _stamped(line: bytes, seq: int) -> bytes:
    doc = orjson.loads(line)
    doc.setdefault("organization", {"id": "acme"})
    doc["agent"] = {"id": "web-1"}
    doc.setdefault("event", {}).update(sequence=seq, created=NOW)
    doc.setdefault("@timestamp", NOW)
    return orjson.dumps(doc)


def seeds(name: str) -> list[bytes]:
    """A starting corpus per target, so mutation begins from inputs that reach deep code."""
    from agent.spool import EVENT
    from auditseal.formats.records import encode_header, encode_record

    events = _seed_events()
    stamped = b"\n".join(_stamped(e, i + 1) for i, e in enumerate(events)) + b"\n"
    if name == "wire_body":
        return [wire.encode_body([_stamped(e, i + 1) for i, e in enumerate(events)])]
    if name == "ndjson_events":
        return [stamped]
    if name == "json_line":
        return events
    if name == "record_framing":
        payload = encode_batch(BatchMeta("web-1", "acme", NOW), [_stamped(events[0], 1)])
        return [encode_header(b"ASJL") + encode_record(EVENT, 1, payload) + encode_record(EVENT, 2, b"x" * 40)]
    if name == "syslog":
        return [
            b'<38>1 2026-12-01T10:00:00Z host sshd 42 - [x@1 a="b"] \xef\xbb\xbfAccepted password for '
            b"alice from 10.0.0.1 port 22 ssh2\n",
            b"63 <86>Dec  1 10:00:00 host sudo: alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls",
        ]
    if name == "auditd":
        return [
            b"type=USER_LOGIN msg=audit(1764324901.123:456): pid=2190 uid=0 auid=1000 ses=3 "
            b'msg=\'op=login acct="alice" exe="/usr/sbin/sshd" hostname=? addr=10.0.0.1 terminal=ssh '
            b"res=success'\n"
            b"type=SYSCALL msg=audit(1764324901.200:457): arch=c000003e syscall=59 success=yes exit=0 "
            b'a0=55 items=2 ppid=1 pid=2 auid=1000 uid=0 comm="ls" exe="/bin/ls" key=(null)\n'
            b'type=EXECVE msg=audit(1764324901.200:457): argc=2 a0="ls" a1=2D6C\n'
            b"type=EOE msg=audit(1764324901.200:457): \n"
        ]
    if name == "auth_log":
        return [
            b"2026-12-01T20:28:03.639193+00:00 host sshd[1269]: Failed password for invalid user bob from "
            b"10.0.0.9 port 50000 ssh2\n"
            b"Dec  1 20:28:03 host sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
            b"COMMAND=/usr/bin/id\n"
        ]
    return []
