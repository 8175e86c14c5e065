"""Query filters for the admin API (pure): validation and the SQL they become."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from auditseal.errors import Rejected
from auditseal.formats.event import format_ts, parse_ts

MAX_LIMIT = 10_000


@dataclass(frozen=True)
class EventQuery:
    tenant: str
    user: str | None = None
    action: str | None = None
    since: str | None = None  # canonical UTC ISO, inclusive
    until: str | None = None  # canonical UTC ISO, exclusive
    limit: int = 100

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> "EventQuery":
        unknown = set(params) - {"tenant", "user", "action", "since", "until", "limit"}
        if unknown:
            raise Rejected("bad_query", f"unknown parameters: {', '.join(sorted(unknown))}")
        tenant = params.get("tenant")
        if not tenant:
            raise Rejected("bad_query", "tenant is required")
        try:
            limit = int(params.get("limit", 100))
        except ValueError:
            raise Rejected("bad_query", "limit must be an integer") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise Rejected("bad_query", f"limit must be between 1 and {MAX_LIMIT}")

        def when(name: str) -> str | None:
            value = params.get(name)
            if not value:
                return None
            try:
                return format_ts(parse_ts(value))
            except Rejected:
                raise Rejected("bad_query", f"{name} is not an ISO 8601 time: {value!r}") from None

        return cls(
            tenant, params.get("user") or None, params.get("action") or None, when("since"), when("until"), limit
        )

    def sql(self) -> tuple[str, list]:
        """Newest first; every clause starts with the tenant, matching the indexes."""
        where: list[str] = ["tenant = ?"]
        args: list[str | int] = [self.tenant]
        if self.user is not None:
            where.append("user_name = ?")
            args.append(self.user)
        if self.action is not None:
            where.append("action = ?")
            args.append(self.action)
        if self.since is not None:
            where.append("ts >= ?")
            args.append(self.since)
        if self.until is not None:
            where.append("ts < ?")
            args.append(self.until)
        args.append(self.limit)
        return (f"SELECT doc FROM events WHERE {' AND '.join(where)} ORDER BY ts DESC LIMIT ?", args)
