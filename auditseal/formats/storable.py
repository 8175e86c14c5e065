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
- ``auditseal.lossy`` (a list of reasons) and ``auditseal.original`` (the line): a JSON line
  whose parsing loses information (numbers, duplicate keys) is kept whole.

``repair`` does that move (the agent applies it to every parsed line); ``check`` refuses
what ``repair`` would change, so the collector stores only what a correct agent sends.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import socket
from functools import lru_cache
from typing import Any

import orjson

from auditseal.errors import Rejected
from auditseal.formats.event import CANONICAL_TS, REQUIRED_FROM_AGENT, canonical_bytes

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
OBJECTS = frozenset(
    {
        "agent",
        "client",
        "cloud",
        "container",
        "destination",
        "dns",
        "email",
        "error",
        "event",
        "file",
        "group",
        "host",
        "http",
        "labels",
        "network",
        "observer",
        "organization",
        "process",
        "related",
        "rule",
        "server",
        "service",
        "source",
        "threat",
        "tls",
        "url",
        "user",
        "user.target",
        "user.effective",
        "user.changes",
        "user.group",
        "user_agent",
        "auditseal",
    }
)
# ECS keyword fields the indexes key on or that SIEM rules match: strings only.
KEYWORDS = frozenset(
    {
        "user.name",
        "user.id",
        "user.email",
        "user.domain",
        "user.full_name",
        "user.target.name",
        "user.target.id",
        "user.effective.name",
        "user.effective.id",
        "host.name",
        "host.hostname",
        "host.id",
        "source.address",
        "source.domain",
        "destination.address",
        "event.kind",
        "event.reason",
        "event.provider",
        "event.dataset",
        "event.module",
        "event.code",
        "event.original",
        "process.name",
        "process.executable",
        "message",
        "service.name",
        "url.original",
    }
)
# ECS ip fields (a string that is not an address breaks the index mapping), and lists of them.
IPS = frozenset({"source.ip", "destination.ip", "client.ip", "server.ip"})
IP_LISTS = frozenset({"host.ip", "related.ip"})
# Keyword lists: a string there is a one-element list; other shapes are moved.
KEYWORD_LISTS = frozenset({"event.type", "related.user", "related.hosts", "tags"})


_OBJECT, _KEYWORD, _IP, _KEYWORD_LIST, _IP_LIST = "object", "keyword", "ip", "keyword list", "ip list"
_REASONS = {
    _OBJECT: "ECS has an object here",
    _KEYWORD: "ECS has a keyword (string) here",
    _IP: "ECS has an IP address here",
    _KEYWORD_LIST: "ECS has a list of keywords here",
    _IP_LIST: "ECS has a list of IP addresses here",
}


def _schema() -> dict:
    """The field lists above as one tree: key → child tree (an object) or a leaf kind."""
    tree: dict = {}
    for names, kind in (
        (OBJECTS, _OBJECT),
        (KEYWORDS, _KEYWORD),
        (IPS, _IP),
        (IP_LISTS, _IP_LIST),
        (KEYWORD_LISTS, _KEYWORD_LIST),
    ):
        for name in sorted(names, key=len):
            node = tree
            *parents, leaf = name.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            if kind == _OBJECT:
                node.setdefault(leaf, {})
            else:
                node[leaf] = kind
    return tree


SCHEMA = _schema()
_KEYWORD_LIST_PATHS = tuple(tuple(name.split(".")) for name in sorted(KEYWORD_LISTS))


def _wrong(kind: str, value: Any) -> bool:
    """Whether ``value`` does not fit the leaf ``kind`` (a string in a list field is fixed up)."""
    if kind is _KEYWORD:
        return type(value) is not str
    if kind is _IP:
        return type(value) is not str or not _is_ip(value)
    if kind is _KEYWORD_LIST:
        return type(value) is not str and (type(value) is not list or any(type(v) is not str for v in value))
    values = value if type(value) is list else [value]
    return any(type(v) is not str or not _is_ip(v) for v in values)


def _pending_moves(doc: dict) -> list[tuple[tuple, str]]:
    return _scan(doc)[0]


def _scan(doc: dict) -> tuple[list[tuple[tuple, str]], int, bool]:
    """One pass without recursion: depth, field names and count (refusals), and the values of
    the wrong shape for their ECS field or out of the 64-bit range (to move), as (path, reason);
    with the number of fields and whether any value is a float (for ``agent.json_loss``)."""
    if type(doc) is not dict:
        raise Rejected("bad_json", "not a JSON object")
    moves: list[tuple[tuple, str]] = []
    fields = 0
    floats = False
    stack: list[tuple[Any, tuple, int, Any]] = [(doc, (), 1, SCHEMA)]
    while stack:
        node, path, depth, spec = stack.pop()
        if depth > MAX_DEPTH:
            raise Rejected("too_deep", f"nested deeper than {MAX_DEPTH} levels at {_dotted(path)}")
        if type(node) is list:
            for value in node:
                kind = type(value)
                if kind is dict or kind is list:
                    stack.append((value, path, depth + 1, None))
                elif kind is int and not INT_MIN <= value <= INT_MAX:
                    moves.append((path, "integer outside the signed 64-bit range"))
                elif kind is float:
                    floats = True
            continue
        fields += len(node)
        if fields > MAX_FIELDS:
            raise Rejected("too_many_fields", f"more than {MAX_FIELDS} fields")
        for key, value in node.items():
            if key not in _GOOD_KEYS:
                _check_key(key, path)
            if not path and key[0] == "_":
                raise Rejected("bad_field_name", f"top-level field {key!r} is reserved (starts with _)")
            child = spec.get(key) if spec else None
            kind = type(value)
            if type(child) is str:  # a typed leaf
                if _wrong(child, value):
                    moves.append((path + (key,), _REASONS[child]))
                elif kind is list:
                    stack.append((value, path + (key,), depth + 1, None))
                continue
            if child is not None and kind is not dict:
                moves.append((path + (key,), _REASONS[_OBJECT]))
                continue
            if kind is dict or kind is list:
                stack.append((value, path + (key,), depth + 1, child))
            elif kind is int and not INT_MIN <= value <= INT_MAX:
                moves.append((path + (key,), "integer outside the signed 64-bit range"))
            elif kind is float:
                floats = True
    return moves, fields, floats


_GOOD_KEYS: set[str] = set()  # field names seen valid: events repeat theirs endlessly


def _check_key(key: str, path: tuple) -> None:
    if not key or "." in key or key[0].isspace() or key[-1].isspace():
        raise Rejected(
            "bad_field_name", f"field name {key!r} under {_dotted(path) or 'the top'} is empty, has dots or edge spaces"
        )
    if len(_GOOD_KEYS) < 100_000:
        _GOOD_KEYS.add(key)


def _dotted(path: tuple) -> str:
    return ".".join(path)


def _get(doc: dict, path: tuple) -> Any:
    node: Any = doc
    for part in path:
        if type(node) is not dict or part not in node:
            return None
        node = node[part]
    return node


@lru_cache(maxsize=65536)  # addresses repeat; ipaddress is slow
def _is_ip(text: str) -> bool:
    try:  # IPv4 through libc first (20x faster); it accepts exactly ipaddress's IPv4 forms
        socket.inet_pton(socket.AF_INET, text)
        return True
    except (OSError, ValueError):
        pass
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def repair(doc: dict) -> dict:
    """Move every open field of the wrong shape to ``auditseal.invalid``; refuse what cannot be
    stored at all (depth, field names, field count). Returns ``doc``, changed in place."""
    repair_counting(doc)
    return doc


def repair_counting(doc: dict) -> tuple[int, bool]:
    """``repair``, and what it saw before: the number of fields, and whether a value is a float."""
    moves, fields, floats = _scan(doc)
    kept = []
    for path, reason in sorted(set(moves)):
        parent = _get(doc, path[:-1]) if len(path) > 1 else doc
        if type(parent) is not dict or path[-1] not in parent:
            continue
        value = parent.pop(path[-1])
        kept.append({"field": _dotted(path), "value": _json_text(value), "reason": reason})
    for path in _KEYWORD_LIST_PATHS:  # "event.type": "start" → ["start"]
        if type(_get(doc, path)) is str:
            _get(doc, path[:-1])[path[-1]] = [_get(doc, path)]
    if kept:
        own = doc.setdefault("auditseal", {})
        own["invalid"] = [*own.get("invalid", []), *kept] if type(own.get("invalid")) is list else kept
    return fields, floats


def _json_text(value: Any) -> str:
    """A moved value as JSON text; orjson refuses integers past 64 bits, the stdlib does not."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, default=repr)


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
        value = _get(doc, _PATHS.get(name) or tuple(name.split(".")))
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


@lru_cache(maxsize=4096)
def _tenant_ok(value: str) -> bool:
    return bool(TENANT_RE.fullmatch(value))


def _tenant(value: Any) -> str | None:
    if type(value) is not str or not _tenant_ok(value):
        return "must be 1-128 characters of A-Z a-z 0-9 _ . -"
    return None


def _sequence(value: Any) -> str | None:
    if type(value) is not int or not 1 <= value <= INT_MAX:
        return "must be an integer from 1 to 2^63-1"
    return None


def _timestamp(value: Any) -> str | None:
    if type(value) is not str or not _canonical_time(value):
        return "must be canonical UTC (YYYY-MM-DDTHH:MM:SS.ffffffZ, years 0001-9999)"
    return None


@lru_cache(maxsize=4096)  # event.created is one value per read; @timestamp repeats too
def _canonical_time(value: str) -> bool:
    if not CANONICAL_TS.fullmatch(value) or value[:4] == "0000":
        return False
    try:
        dt.datetime.fromisoformat(value[:-1])  # a real date, not just the right shape
    except ValueError:
        return False
    return True


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


_PATHS = {name: tuple(name.split(".")) for name in REQUIRED_FROM_AGENT}
_REQUIRED_CHECKS = {
    "event.action": _action,
    "event.category": _category,
    "event.outcome": _string,
    "organization.id": _tenant,
    "agent.id": _string,
    "event.sequence": _sequence,
    "@timestamp": _timestamp,
    "event.created": _timestamp,
}


def fits(doc: dict, reserve: int = STAMP_RESERVE) -> None:
    """Refuse an event whose canonical bytes, plus what is added later, pass the limit."""
    size = len(canonical_bytes(doc)) + reserve
    if size > MAX_EVENT_BYTES:
        raise Rejected(
            "event_too_large", f"event of {size - reserve} bytes (+{reserve} added on shipping) > {MAX_EVENT_BYTES}"
        )


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
        for i in invalid
    ):
        raise Rejected("bad_field", "auditseal.invalid: not as the agent writes it")
    lossy = own.get("lossy", [])
    if type(lossy) is not list or not all(type(r) is str for r in lossy):
        raise Rejected("bad_field", "auditseal.lossy: not as the agent writes it")
    if type(own.get("original", "")) is not str:
        raise Rejected("bad_field", "auditseal.original: not as the agent writes it")
