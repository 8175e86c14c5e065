"""Parsers: lines of one input → ECS events, chosen per input by ``format``.

A parser takes the complete lines of one read and returns the events, the lines it
refuses (dead letters, with a reason), and how many lines it consumed: a multi-line
record still incomplete at the end of a read (an auditd event waiting for its EOE) is
left unconsumed, so its offset is not committed and it is read again whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import ipaddress
import socket

from auditseal.errors import Rejected
from auditseal.formats import storable as _storable
from auditseal.formats.storable import check_parsed

from ..lines import Line
from ..normalise import Source


@dataclass
class Parsed:
    events: list[dict] = field(default_factory=list)
    rejected: list[tuple[Line, Rejected]] = field(default_factory=list)
    consumed: int = 0  # lines consumed, from the start


class Parser(Protocol):
    # True: the parser applies ``auditseal.formats.storable`` to its own events (they are not
    # checked again here); False: ``parse_safely`` checks each one.
    checks_storable: bool

    def parse(self, lines: list[Line], source: Source, created: str, final: bool) -> Parsed: ...


REGISTRY: dict[str, Callable[..., Parser]] = {}  # name → factory(input config)


def register(name: str):
    def wrap(factory):
        REGISTRY[name] = factory
        return factory

    return wrap


def original(line: bytes) -> str:
    """The line as text; invalid UTF-8 is kept, escaped, never a crash."""
    return line.decode("utf-8", "backslashreplace")


storable = check_parsed  # the agent's side of auditseal.formats.storable


def check_built(doc: dict, bound: int) -> dict:
    """The storable check of an event a parser built from fixed code (auth, auditd): field
    names, nesting and types are right by construction (``tests/test_parsers_storable.py``
    proves it on arbitrary lines), so only the required fields, and the size when it could
    matter, are checked here. ``bound``: an upper bound of the event's encoded size, from the
    line (each copy of a control byte costs 6 bytes as JSON, ``\u0001``)."""
    _storable.check_parsed_required(doc)
    if bound + _storable.STAMP_RESERVE > _storable.MAX_EVENT_BYTES:
        _storable.fits(doc)
    return doc


def small_int(text: str | None) -> int | None:
    """A decimal field as an int, None when absent or beyond 64 bits (ECS ``long``)."""
    return int(text) if text and len(text) <= 18 and text.isdigit() else None


def ip_text(text: str) -> str | None:
    """The address in canonical form, None when ``text`` is no IP address."""
    try:
        socket.inet_pton(socket.AF_INET, text)
        return text  # dotted quad without leading zeros: canonical already (the common case)
    except (OSError, ValueError):  # ValueError: a NUL in the text
        pass
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def parse_safely(parser: Parser, lines: list[Line], source: Source, created: str, final: bool) -> Parsed:
    """Parse, and make sure no line can crash the agent or reach the spool unstorable.

    A parser that raises on a read is run again line by line, and each line that still
    raises is dead-lettered alone (``parser_error``). Events of parsers that do not check
    themselves (``checks_storable``) are checked here; a refused one is dead-lettered with
    its original text.
    """
    try:
        parsed = parser.parse(lines, source, created, final)
    except Exception:
        parsed = Parsed(consumed=len(lines))
        for line in lines:
            try:
                one = parser.parse([line], source, created, True)
            except Exception as exc:  # a parser bug must cost one line, not the file
                parsed.rejected.append((line, Rejected("parser_error", f"{type(exc).__name__}: {exc}")))
                continue
            parsed.events.extend(one.events)
            parsed.rejected.extend(one.rejected)
    if parser.checks_storable:
        return parsed
    kept = []
    for doc in parsed.events:
        try:
            kept.append(storable(doc))
        except Rejected as exc:
            text = doc.get("event", {}).get("original") if isinstance(doc.get("event"), dict) else None
            at = lines[max(parsed.consumed, 1) - 1].end if lines else 0
            parsed.rejected.append((Line(str(text or "").encode(), at), exc))
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            parsed.rejected.append(
                (Line(b"", lines[-1].end if lines else 0), Rejected("parser_error", f"{type(exc).__name__}: {exc}"))
            )
    parsed.events = kept
    return parsed


def related(doc: dict) -> None:
    """``related.user`` and ``related.ip``: every user and address the event names."""
    users = []
    user = doc.get("user")
    if user:
        for node in (user, user.get("effective"), user.get("target"), user.get("audit")):
            name = node.get("name") if node else None
            if name and name not in users:
                users.append(name)
    ips = [ip for side in ("source", "destination") if (ip := doc.get(side, {}).get("ip"))]
    if users or ips:
        rel = doc["related"] = {}
        if users:
            rel["user"] = users
        if ips:
            rel["ip"] = list(dict.fromkeys(ips))
