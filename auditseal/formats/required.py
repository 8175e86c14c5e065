"""Required fields of an event (pure): present, and of the shape every sink relies on.

``check_required`` names the first field that is missing or wrong; ``check_parsed_required``
is the same test for a freshly parsed line, unrolled for the agent's hot path (it falls back
to ``check_required`` for the reason whenever anything is off).
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import Any

from auditseal.errors import Rejected
from auditseal.formats.event import CANONICAL_TS, REQUIRED_FROM_AGENT

MAX_ACTION_CHARS = 1024
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
TENANT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
# What a parsed event holds before the agent numbers it (agent.id and event.sequence come then).
REQUIRED_PARSED = tuple(f for f in REQUIRED_FROM_AGENT if f not in ("agent.id", "event.sequence"))


def get(doc: dict, path: tuple) -> Any:
    """The value at ``path`` (a tuple of keys), or None when any step is missing."""
    node: Any = doc
    for part in path:
        if type(node) is not dict or part not in node:
            return None
        node = node[part]
    return node


def check_parsed_required(doc: dict, timestamp_canonical: bool = False) -> None:
    """``check_required(doc, REQUIRED_PARSED)`` in one pass of plain lookups.

    ``timestamp_canonical``: the caller wrote ``@timestamp`` itself through
    ``event.normalise_ts`` (canonical by construction), so it is not matched again."""
    if not _parsed_ok(doc, timestamp_canonical):
        check_required(doc, REQUIRED_PARSED)  # names the field and the reason


def check_agent_required(doc: dict) -> None:
    """``check_required(doc, REQUIRED_FROM_AGENT)`` in one pass of plain lookups (the
    collector's hot path: every event of every batch)."""
    agent = doc.get("agent")
    if not (
        _parsed_ok(doc, False)
        and type(agent) is dict
        and type(agent.get("id")) is str
        and agent["id"]
        and type(seq := doc["event"].get("sequence")) is int
        and 1 <= seq <= INT_MAX
    ):
        check_required(doc, REQUIRED_FROM_AGENT)


def _parsed_ok(doc: dict, timestamp_canonical: bool) -> bool:
    event = doc.get("event")
    org = doc.get("organization")
    return bool(
        type(event) is dict
        and type(org) is dict
        and type(action := event.get("action")) is str
        and 0 < len(action) <= MAX_ACTION_CHARS
        and type(category := event.get("category")) is list
        and category
        and all(type(v) is str and v for v in category)
        and type(outcome := event.get("outcome")) is str
        and outcome
        and type(tenant := org.get("id")) is str
        and _tenant_ok(tenant)
        and type(stamp := doc.get("@timestamp")) is str
        and (timestamp_canonical or _canonical_time(stamp))
        and type(created := event.get("created")) is str
        and _canonical_time(created)
    )


def check_required(doc: dict, required: tuple[str, ...]) -> None:
    for name in required:
        value = get(doc, _PATHS.get(name) or tuple(name.split(".")))
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
