"""The one definition of a storable event (pure), used by the agent and the collector.

An event is storable when every sink can hold it as it is: the SQLite index, the
Elasticsearch bulk body (ECS template, mapping depth 20), the sealer and its retention rules.

- Shape: at most ``MAX_DEPTH`` levels of objects and arrays, at most ``MAX_FIELDS`` fields,
  keys non-empty, without dots (stored events are nested) and, at the top, not starting with
  ``_`` (Elasticsearch metadata fields); canonical bytes at most ``MAX_EVENT_BYTES``.
- Required fields (``REQUIRED_FROM_AGENT``): ``event.action`` and ``event.outcome`` non-empty
  strings, ``event.category`` a non-empty list of non-empty strings, ``organization.id``
  matching ``TENANT_RE``, ``agent.id`` a string, ``event.sequence`` an integer in
  1..2^63-1, ``@timestamp`` and ``event.created`` canonical UTC between years 0001 and 9999.
  A required field of the wrong shape refuses the event.
- Open fields that ECS types (objects such as ``user``, keywords such as ``user.name``) and
  integers outside the signed 64-bit range: a value of the wrong shape is *moved*, never
  dropped, to ``auditseal.invalid`` — a list of ``{"field", "value" (its JSON text),
  "reason"}`` — so the event stays storable and the value stays readable.

``repair`` does that move (the agent applies it to every parsed line); ``check`` refuses
what ``repair`` would change, so the collector stores only what a correct agent sends.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import orjson

from .errors import Rejected
from .event import CANONICAL_TS, REQUIRED_FROM_AGENT, canonical_bytes

MAX_DEPTH = 16
MAX_FIELDS = 1000
MAX_EVENT_BYTES = 256 * 1024  # canonical bytes of one stored event (the wire's per-event limit)
STAMP_RESERVE = 1024  # bytes the agent and collector add later (ids, sequence, ingest time)
MAX_ACTION_CHARS = 1024
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
TENANT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
# What a parsed event holds before the agent numbers it (agent.id and event.sequence come then).
REQUIRED_PARSED = tuple(f for f in REQUIRED_FROM_AGENT if f not in ("agent.id", "event.sequence"))

# ECS fields that are objects: a scalar there breaks the index mapping.
OBJECTS = frozenset({
    "agent", "client", "cloud", "container", "destination", "dns", "email", "error", "event",
    "file", "group", "host", "http", "labels", "network", "observer", "organization", "process",
    "related", "rule", "server", "service", "source", "threat", "tls", "url", "user",
    "user.target", "user.effective", "user.changes", "user.group", "user_agent", "auditseal",
})
# ECS keyword fields the indexes key on or that SIEM rules match: strings only.
KEYWORDS = frozenset({
    "user.name", "user.id", "user.email", "user.domain", "user.full_name",
    "user.target.name", "user.target.id", "user.effective.name", "user.effective.id",
    "host.name", "host.hostname", "host.id", "source.address", "source.domain",
    "destination.address", "event.kind", "event.reason",
    "event.provider", "event.dataset", "event.module", "event.code", "event.original",
    "process.name", "process.executable", "message", "service.name", "url.original",
})
# ECS ip fields (a string that is not an address breaks the index mapping), and lists of them.
IPS = frozenset({"source.ip", "destination.ip", "client.ip", "server.ip"})
IP_LISTS = frozenset({"host.ip", "related.ip"})
# Keyword lists: a string there is a one-element list; other shapes are moved.
KEYWORD_LISTS = frozenset({"event.type", "related.user", "related.hosts", "tags"})


def _walk_shape(doc: dict) -> list[tuple[tuple, str]]:
    """Depth, key and leaf checks without recursion; returns (path, reason) of values to move."""
    moves: list[tuple[tuple, str]] = []
    leaves = 0
    stack: list[tuple[Any, tuple, int]] = [(doc, (), 1)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Rejected("too_deep", f"nested deeper than {MAX_DEPTH} levels at {_dotted(path)}")
        if type(node) is dict:
            items = node.items()
        else:
            items = ((None, v) for v in node)
        for key, value in items:
            if key is not None:
                if not key or "." in key or key.strip() != key:
                    raise Rejected("bad_field_name", f"field name {key!r} under {_dotted(path) or 'the top'} "
                                                     f"is empty, has dots or edge spaces")
                if not path and key.startswith("_"):
                    raise Rejected("bad_field_name", f"top-level field {key!r} is reserved (starts with _)")
            kind = type(value)
            if key is not None:
                leaves += 1  # fields, as an index maps them; list elements are not fields
            if kind is dict or kind is list:
                stack.append((value, path + ((key,) if key is not None else ()), depth + 1))
                continue
            if kind is int and not INT_MIN <= value <= INT_MAX:
                where = path + (key,) if key is not None else path
                moves.append((where, "integer outside the signed 64-bit range"))
        if leaves > MAX_FIELDS:
            raise Rejected("too_many_fields", f"more than {MAX_FIELDS} fields")
    return moves


def _dotted(path: tuple) -> str:
    return ".".join(path)


def _get(doc: dict, path: tuple) -> Any:
    node: Any = doc
    for part in path:
        if type(node) is not dict or part not in node:
            return None
        node = node[part]
    return node


def _typed_moves(doc: dict) -> list[tuple[tuple, str]]:
    moves: list[tuple[tuple, str]] = []
    for name in sorted(OBJECTS, key=len):
        path = tuple(name.split("."))
        value = _get(doc, path)
        if value is not None and type(value) is not dict and type(_get(doc, path[:-1]) or doc) is dict:
            moves.append((path, "ECS has an object here"))
    for name in KEYWORDS:
        path = tuple(name.split("."))
        value = _get(doc, path)
        if value is not None and type(value) is not str:
            moves.append((path, "ECS has a keyword (string) here"))
    for name in KEYWORD_LISTS:
        path = tuple(name.split("."))
        value = _get(doc, path)
        if value is None or type(value) is str:
            continue
        if type(value) is not list or not all(type(v) is str for v in value):
            moves.append((path, "ECS has a list of keywords here"))
    for name in IPS | IP_LISTS:
        path = tuple(name.split("."))
        value = _get(doc, path)
        if value is None:
            continue
        values = value if name in IP_LISTS and type(value) is list else [value]
        if not all(type(v) is str and _is_ip(v) for v in values):
            moves.append((path, "ECS has an IP address here"))
    return moves


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _pending_moves(doc: dict) -> list[tuple[tuple, str]]:
    if type(doc) is not dict:
        raise Rejected("bad_json", "not a JSON object")
    moves = _walk_shape(doc)
    moves.extend(_typed_moves(doc))
    # A value moved as part of a larger moved object needs no move of its own.
    paths = {p for p, _ in moves}
    return [(p, r) for p, r in moves if not any(p[:n] in paths for n in range(1, len(p)))]


def repair(doc: dict) -> dict:
    """Move every open field of the wrong shape to ``auditseal.invalid``; refuse what cannot be
    stored at all (depth, field names, field count). Returns ``doc``, changed in place."""
    moves = _pending_moves(doc)
    kept = []
    for path, reason in sorted(set(moves)):
        parent = _get(doc, path[:-1]) if len(path) > 1 else doc
        if type(parent) is not dict or path[-1] not in parent:
            continue
        value = parent.pop(path[-1])
        kept.append({"field": _dotted(path), "value": orjson.dumps(value).decode(), "reason": reason})
    for name in KEYWORD_LISTS:  # "event.type": "start" → ["start"]
        path = tuple(name.split("."))
        if type(_get(doc, path)) is str:
            _get(doc, path[:-1])[path[-1]] = [_get(doc, path)]
    if kept:
        own = doc.setdefault("auditseal", {})
        own["invalid"] = [*own.get("invalid", []), *kept] if type(own.get("invalid")) is list else kept
    return doc


def check(doc: dict, required: tuple[str, ...], size: int | None = None, limit: int = MAX_EVENT_BYTES) -> None:
    """Refuse an event that is not storable as it is (``Rejected`` with the first reason);
    ``size``: its canonical length when the caller has it."""
    moves = _pending_moves(doc)
    if moves:
        path, reason = moves[0]
        raise Rejected("bad_field", f"{_dotted(path)}: {reason}")
    check_required(doc, required)
    _check_own(doc)
    size = len(canonical_bytes(doc)) if size is None else size
    if size > limit:
        raise Rejected("event_too_large", f"event of {size} bytes > {limit}")


def check_required(doc: dict, required: tuple[str, ...]) -> None:
    for name in required:
        value = _get(doc, tuple(name.split(".")))
        if value is None or value == "" or value == []:
            raise Rejected("missing_field", f"missing required field {name}")
        problem = _REQUIRED_CHECKS.get(name, _string)(value)
        if problem:
            raise Rejected("bad_field", f"{name}: {problem}")


def _string(value: Any) -> str | None:
    return None if type(value) is str else f"must be a string, not {_kind(value)}"


def _action(value: Any) -> str | None:
    if type(value) is not str:
        return f"must be a string, not {_kind(value)}"
    return f"longer than {MAX_ACTION_CHARS} characters" if len(value) > MAX_ACTION_CHARS else None


def _category(value: Any) -> str | None:
    if type(value) is not list or not all(type(v) is str and v for v in value):
        return "must be a list of non-empty strings"
    return None


def _tenant(value: Any) -> str | None:
    if type(value) is not str or not TENANT_RE.match(value):
        return "must be 1-128 characters of A-Z a-z 0-9 _ . -"
    return None


def _sequence(value: Any) -> str | None:
    if type(value) is not int or not 1 <= value <= INT_MAX:
        return "must be an integer from 1 to 2^63-1"
    return None


def _timestamp(value: Any) -> str | None:
    if type(value) is not str or not CANONICAL_TS.fullmatch(value) or value[:4] == "0000":
        return "must be canonical UTC (YYYY-MM-DDTHH:MM:SS.ffffffZ, years 0001-9999)"
    from .event import normalise_ts
    try:
        normalise_ts(value)
    except Rejected:
        return "not a valid time"
    return None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", int: "a number", float: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)


_REQUIRED_CHECKS = {
    "event.action": _action, "event.category": _category, "event.outcome": _string,
    "organization.id": _tenant, "agent.id": _string, "event.sequence": _sequence,
    "@timestamp": _timestamp, "event.created": _timestamp,
}


def fits(doc: dict, reserve: int = STAMP_RESERVE) -> None:
    """Refuse an event whose canonical bytes, plus what is added later, pass the limit."""
    size = len(canonical_bytes(doc)) + reserve
    if size > MAX_EVENT_BYTES:
        raise Rejected("event_too_large", f"event of {size - reserve} bytes (+{reserve} added on "
                                          f"shipping) > {MAX_EVENT_BYTES}")


def check_parsed(doc: dict) -> dict:
    """The agent's side: wrong-shaped open fields moved aside, required fields checked, size
    within the limit with room for what the agent adds. Returns ``doc``."""
    repair(doc)
    check_required(doc, REQUIRED_PARSED)
    fits(doc)
    return doc


def check_depth(value: Any) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH``, without recursion (JSON as parsed can be
    1024 levels deep; recursive code and orjson's encoder are not)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Rejected("too_deep", f"nested deeper than {MAX_DEPTH} levels")
        children = node.values() if type(node) is dict else node
        stack.extend((c, depth + 1) for c in children if type(c) is dict or type(c) is list)


def _check_own(doc: dict) -> None:
    """``auditseal.*`` is the agent's and collector's: only the shapes they write."""
    own = doc.get("auditseal")
    if own is None:
        return
    invalid = own.get("invalid", [])
    if type(invalid) is not list or not all(
            type(i) is dict and set(i) == {"field", "value", "reason"} and all(type(v) is str for v in i.values())
            for i in invalid):
        raise Rejected("bad_field", "auditseal.invalid: not as the agent writes it")
