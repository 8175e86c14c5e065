"""Event queries of the admin API (pure): the filters, their validation and the cursor.

One meaning on every index (SQLite and Elasticsearch run the same contract tests):

- ``user``: ``user.name`` equals it, or ``user.id`` does on an event with no ``user.name``;
- ``target_user``, ``action``, ``outcome``, ``host``: ``user.target.name``, ``event.action``,
  ``event.outcome``, ``host.name`` equal it; ``category``: ``event.category`` holds it;
- ``source_ip``: ``source.ip`` is that address (compared as addresses: ``::1`` = ``0::1``);
- ``since`` (inclusive) / ``until`` (exclusive): ``@timestamp``, any ISO 8601 time;
- ``q``: every word of it (runs of letters, digits and ``_``, any case) is a word of ``message``;
- ``order``: ``desc`` (newest first, the default) or ``asc``; ties by ``event.id``, same way.

Pages are walked with an opaque ``cursor`` (``search_after`` on ``(@timestamp, event.id)``):
stable under concurrent ingestion, no event twice. A cursor is bound to its query: used with
other filters or another tenant it is refused.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, fields, replace
from typing import Mapping

import orjson

from auditseal.errors import Rejected
from auditseal.formats.event import format_ts, parse_ts
from auditseal.formats.index_layout import canonical_ip

MAX_LIMIT = 10_000
FILTERS = ("user", "target_user", "action", "category", "outcome", "source_ip", "host")
PARAMS = frozenset({"tenant", *FILTERS, "since", "until", "q", "order", "limit", "cursor"})
WORD_RE = re.compile(r"\w+")
CATEGORY_RE = re.compile(r"^[a-z_]{1,64}$")
MAX_VALUE = 1024


def words(text: str) -> list[str]:
    """The words of ``q`` and of ``message`` as both indexes compare them."""
    return WORD_RE.findall(text.lower())


@dataclass(frozen=True)
class EventQuery:
    tenant: str
    user: str | None = None
    target_user: str | None = None
    action: str | None = None
    category: str | None = None
    outcome: str | None = None
    source_ip: str | None = None
    host: str | None = None
    since: str | None = None  # canonical UTC ISO, inclusive
    until: str | None = None  # canonical UTC ISO, exclusive
    text: tuple[str, ...] = ()  # the words of q
    order: str = "desc"
    limit: int = 100
    after: tuple[str, str] | None = None  # (@timestamp, event.id) of the last event seen

    @classmethod
    def from_params(cls, params: Mapping[str, str], tenant: str | None = None, paged: bool = True) -> "EventQuery":
        """From URL parameters; ``tenant`` is the scope the server decided (it wins)."""
        allowed = PARAMS if paged else PARAMS - {"limit", "cursor", "order"}
        unknown = set(params) - allowed
        if unknown:
            raise Rejected("bad_query", f"unknown parameters: {', '.join(sorted(unknown))}")
        tenant = tenant or params.get("tenant")
        if not tenant:
            raise Rejected("bad_query", "tenant is required")
        for name in params:
            if len(params[name]) > MAX_VALUE:
                raise Rejected("bad_query", f"{name}: longer than {MAX_VALUE} characters")
        try:
            limit = int(params.get("limit", 100))
        except ValueError:
            raise Rejected("bad_query", "limit must be an integer") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise Rejected("bad_query", f"limit must be between 1 and {MAX_LIMIT}")
        order = params.get("order", "desc")
        if order not in ("asc", "desc"):
            raise Rejected("bad_query", "order: asc or desc")

        def when(name: str) -> str | None:
            value = params.get(name)
            if not value:
                return None
            try:
                return format_ts(parse_ts(value))
            except Rejected:
                raise Rejected("bad_query", f"{name} is not an ISO 8601 time: {value!r}") from None

        given: dict = {name: params.get(name) or None for name in FILTERS}
        if given["category"] is not None and not CATEGORY_RE.fullmatch(given["category"]):
            raise Rejected("bad_query", "category: an ECS category (lowercase letters and '_')")
        if given["source_ip"] is not None:
            ip = canonical_ip(given["source_ip"])
            if ip is None:
                raise Rejected("bad_query", "source_ip: not an IP address")
            given["source_ip"] = ip
        text = tuple(words(params.get("q", "")))
        if params.get("q") and not text:
            raise Rejected("bad_query", "q: no word to look for (letters, digits, '_')")
        query = cls(tenant, **given, since=when("since"), until=when("until"), text=text, order=order, limit=limit)
        if params.get("cursor"):
            query = replace(query, after=query.decode_cursor(params["cursor"]))
        return query

    def fingerprint(self) -> str:
        """What a cursor is bound to: the tenant, every filter and the order (not the limit)."""
        body = [getattr(self, f.name) for f in fields(self) if f.name not in ("limit", "after")]
        return hashlib.sha256(orjson.dumps(body)).hexdigest()[:16]

    def cursor_after(self, doc: dict) -> str:
        raw = orjson.dumps([1, self.fingerprint(), doc["@timestamp"], doc["event"]["id"]])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode_cursor(self, cursor: str) -> tuple[str, str]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            version, bound, ts, ident = orjson.loads(raw)
            if version != 1 or not isinstance(ts, str) or not isinstance(ident, str):
                raise ValueError
        except (ValueError, TypeError):
            raise Rejected("bad_query", "cursor: not a cursor this API gave out") from None
        if bound != self.fingerprint():
            raise Rejected("bad_query", "cursor: it belongs to another query (filters, tenant or order differ)")
        return ts, ident

    def next_cursor(self, page: list[dict], more: bool) -> str | None:
        return self.cursor_after(page[-1]) if more and page else None

    def described(self) -> dict:
        """The filter as audit events record it (no cursor, no limit)."""
        out = {f: getattr(self, f) for f in FILTERS if getattr(self, f) is not None}
        out.update({k: v for k, v in (("since", self.since), ("until", self.until)) if v is not None})
        if self.text:
            out["q"] = " ".join(self.text)
        return {"tenant": self.tenant, **out, "order": self.order}
