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

import ipaddress
import json
import socket
from functools import lru_cache
from typing import Any, NamedTuple

import orjson

from auditseal.errors import Rejected
from auditseal.formats.event import canonical_bytes
from auditseal.formats.required import (  # noqa: F401  (re-exported: the one definition of storable)
    INT_MAX,
    INT_MIN,
    MAX_ACTION_CHARS,
    REQUIRED_PARSED,
    REQUIRED_FROM_AGENT,
    TENANT_RE,
    check_agent_required,
    check_parsed_required,
    check_required,
)
from auditseal.formats.required import get as _get

MAX_DEPTH = 16
MAX_FIELDS = 1000
MAX_EVENT_BYTES = 256 * 1024  # canonical bytes of one stored event (the wire's per-event limit)
STAMP_RESERVE = 1024  # bytes the agent and collector add later (ids, sequence, ingest time)

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
    return scan(doc).moves


class Scan(NamedTuple):
    moves: list[tuple[tuple, str]]  # (path, reason) of values to move to auditseal.invalid
    fields: int  # for agent.json_loss
    floats: bool  # whether any value is a float (for agent.json_loss)
    listify: list[tuple[dict, str]]  # (object, key) of a keyword-list field holding one string
    dotted: bool = False  # stopped at a key with dots (only with ``allow_dots``)


def scan(doc: dict, allow_dots: bool = False) -> Scan:
    """One pass without recursion: depth, field names and count (refusals), and the values of
    the wrong shape for their ECS field or out of the 64-bit range (to move), as (path, reason);
    with the number of fields and whether any value is a float (for ``agent.json_loss``).

    ``allow_dots``: a key with dots stops the pass (``dotted``) instead of refusing the event:
    the caller expands the keys and scans again."""
    if type(doc) is not dict:
        raise Rejected("bad_json", "not a JSON object")
    moves: list[tuple[tuple, str]] = []
    listify: list[tuple[dict, str]] = []
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
        good = _GOOD_KEYS if path else _GOOD_TOP_KEYS
        for key, value in node.items():
            if key not in good:
                if allow_dots and "." in key:
                    return Scan(moves, fields, floats, listify, dotted=True)
                _check_key(key, path)
            kind = type(value)
            child = spec.get(key) if spec else None
            if child is None:  # an open field
                if kind is str:
                    continue
                if kind is dict or kind is list:
                    stack.append((value, path + (key,), depth + 1, None))
                elif kind is int and not INT_MIN <= value <= INT_MAX:
                    moves.append((path + (key,), "integer outside the signed 64-bit range"))
                elif kind is float:
                    floats = True
            elif type(child) is str:  # a typed leaf
                if _wrong(child, value):
                    moves.append((path + (key,), _REASONS[child]))
                elif kind is list:
                    stack.append((value, path + (key,), depth + 1, None))
                elif child is _KEYWORD_LIST:  # "event.type": "start" → ["start"]
                    listify.append((node, key))
            elif kind is dict:  # an ECS object
                stack.append((value, path + (key,), depth + 1, child))
            else:
                moves.append((path + (key,), _REASONS[_OBJECT]))
    return Scan(moves, fields, floats, listify)


_GOOD_KEYS: set[str] = set()  # field names seen valid: events repeat theirs endlessly
_GOOD_TOP_KEYS: set[str] = set()  # the same at the top, where a leading _ is refused too


def _check_key(key: str, path: tuple) -> None:
    if not key or "." in key or key[0].isspace() or key[-1].isspace():
        raise Rejected(
            "bad_field_name", f"field name {key!r} under {_dotted(path) or 'the top'} is empty, has dots or edge spaces"
        )
    if not path and key[0] == "_":
        raise Rejected("bad_field_name", f"top-level field {key!r} is reserved (starts with _)")
    good = _GOOD_KEYS if path else _GOOD_TOP_KEYS
    if len(good) < 100_000:
        good.add(key)


def _dotted(path: tuple) -> str:
    return ".".join(path)


@lru_cache(maxsize=4096)  # addresses repeat; ipaddress is slow (IPv4 goes through inet_pton, fast)
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
    scanned = scan(doc)
    repair_scanned(doc, scanned)
    return scanned.fields, scanned.floats


def repair_scanned(doc: dict, scanned: Scan) -> None:
    """``repair`` with the scan of ``doc`` already made (and nothing changed since)."""
    kept = []
    for path, reason in sorted(set(scanned.moves)) if scanned.moves else ():
        parent = _get(doc, path[:-1]) if len(path) > 1 else doc
        if type(parent) is not dict or path[-1] not in parent:
            continue
        value = parent.pop(path[-1])
        kept.append({"field": _dotted(path), "value": _json_text(value), "reason": reason})
    for node, key in scanned.listify:
        node[key] = [node[key]]
    if kept:
        own = doc.setdefault("auditseal", {})
        own["invalid"] = [*own.get("invalid", []), *kept] if type(own.get("invalid")) is list else kept


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
    if required is REQUIRED_FROM_AGENT:
        check_agent_required(doc)
    else:
        check_required(doc, required)
    _check_own(doc)
    size = len(canonical_bytes(doc)) if size is None else size
    if size > limit:
        raise Rejected("event_too_large", f"event of {size} bytes > {limit}")


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
