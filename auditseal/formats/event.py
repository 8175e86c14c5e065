"""Event model: ECS documents as nested dicts, canonical bytes, derived ids.

Canonical bytes (what hashes and archives cover): JSON with sorted keys, no
insignificant whitespace, UTF-8 — orjson with OPT_SORT_KEYS.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

import orjson

from auditseal.errors import Rejected

# Fields every stored event carries (DESIGN.md section 4).
REQUIRED_STORED = (
    "@timestamp",
    "event.id",
    "event.action",
    "event.category",
    "event.outcome",
    "organization.id",
    "agent.id",
    "event.sequence",
    "event.created",
    "event.ingested",
)
# Fields the agent must put on an event before it is spooled (the collector adds the rest).
REQUIRED_FROM_AGENT = tuple(f for f in REQUIRED_STORED if f not in ("event.id", "event.ingested"))

_MISSING = object()


def get_path(doc: dict, path: str, default: Any = None) -> Any:
    """Value at a dotted ECS path in a nested document (``@timestamp`` is a top-level key)."""
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, dict):
            return default
        node = node.get(part, _MISSING)
        if node is _MISSING:
            return default
    return node


def set_path(doc: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    node = doc
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def has_dotted_keys(doc: dict) -> bool:
    for key, value in doc.items():
        if "." in key and key != "@timestamp":
            return True
        if type(value) is dict and has_dotted_keys(value):
            return True
    return False


def expand_dotted(doc: dict) -> dict:
    """Turn ``{"event.action": x}`` into ``{"event": {"action": x}}``, recursively.

    Applications write ECS either nested or with dotted keys; stored events are nested.
    Already-nested documents are returned as they are (the common, fast case).
    """
    if not has_dotted_keys(doc):
        return doc
    return _expand(doc)


def _expand(doc: dict) -> dict:
    out: dict = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            value = _expand(value)
        if "." in key and key != "@timestamp":
            existing = get_path(out, key, _MISSING)
            if isinstance(existing, dict) and isinstance(value, dict):
                existing.update(value)
            else:
                set_path(out, key, value)
        elif isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key].update(value)
        else:
            out[key] = value
    return out


def missing_fields(doc: dict, required: tuple[str, ...]) -> list[str]:
    return [f for f in required if get_path(doc, f, _MISSING) in (_MISSING, None, "")]


def canonical_bytes(doc: dict) -> bytes:
    # orjson hands back bytes objects with a 4 KiB allocation whatever their length;
    # batches hold thousands of them, so keep a tight copy (10x less memory, measured).
    return bytes(memoryview(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)))


def event_id(agent_id: str, sequence: int) -> str:
    """Stable id of the event ``sequence`` of ``agent_id``: a resent event keeps its id."""
    digest = hashlib.sha256(f"{agent_id}\x00{sequence}".encode()).hexdigest()
    return digest[:32]


def utc_now_iso() -> str:
    return format_ts(dt.datetime.now(dt.timezone.utc))


def format_ts(moment: dt.datetime) -> str:
    """ISO 8601 UTC with microseconds and a ``Z``: sorts lexically in time order (the year is
    always four digits: strftime would write 999 for 0999). ``Rejected`` when the moment has
    no UTC form between years 0001 and 9999."""
    try:
        m = moment.astimezone(dt.timezone.utc)
    except (OverflowError, ValueError) as exc:
        raise Rejected("bad_timestamp", f"outside years 0001-9999 in UTC: {moment.isoformat()}") from exc
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond:06d}Z"


def parse_ts(text: str, tz: dt.tzinfo = dt.timezone.utc) -> dt.datetime:
    """Parse an ISO 8601 time; a time without zone is taken in ``tz`` (UTC by default)."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, AttributeError) as exc:
        raise Rejected("bad_timestamp", f"not an ISO 8601 time: {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


CANONICAL_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
# UTC with fewer fraction digits (what most applications write): padded, not re-parsed.
SHORT_UTC_TS = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,5}))?Z")


def normalise_ts(value: Any) -> str:
    """Any accepted @timestamp (ISO string or unix seconds) as canonical UTC ISO text."""
    if type(value) is str and CANONICAL_TS.fullmatch(value):
        try:
            dt.datetime.fromisoformat(value[:-1])  # a real date, not just the right shape
            return value  # already canonical: the agent's own output, the common case
        except ValueError:
            raise Rejected("bad_timestamp", f"not a valid time: {value!r}") from None
    if type(value) is str and (short := SHORT_UTC_TS.fullmatch(value)):
        try:
            dt.datetime.fromisoformat(short.group(1))
            return f"{short.group(1)}.{(short.group(2) or '').ljust(6, '0')}Z"
        except ValueError:
            pass  # not a real date: the general path below says why
    if isinstance(value, bool):
        raise Rejected("bad_timestamp", f"not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        try:
            return format_ts(dt.datetime.fromtimestamp(value, dt.timezone.utc))
        except (OverflowError, OSError, ValueError) as exc:
            raise Rejected("bad_timestamp", f"unix time {value!r} is outside years 0001-9999") from exc
    if isinstance(value, str):
        return format_ts(parse_ts(value))
    raise Rejected("bad_timestamp", f"not a timestamp: {value!r}")
