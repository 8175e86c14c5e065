"""Admin API queries on Elasticsearch: the same filters and pages as the SQLite index
(``collector.query`` says what each means; one contract test suite runs on both).

Tenant scoping is done twice: the tenant's own data stream, and a filter on
``organization.id``. Pages use ``search_after`` on ``(@timestamp, event.id)``;
``@timestamp`` is ``date_nanos``, so the cursor's microseconds sort as SQLite's do.
"""

from __future__ import annotations

from auditseal.formats.event import parse_ts

from ...query import EventQuery
from . import templates


def _term(path: str, value: str) -> dict:
    return {"term": {path: value}}


def query_body(query: EventQuery) -> dict:
    filters: list[dict] = [_term("organization.id", query.tenant)]
    if query.user is not None:
        filters.append(
            {
                "bool": {
                    "should": [
                        _term("user.name", query.user),
                        {
                            "bool": {
                                "filter": [_term("user.id", query.user)],
                                "must_not": [{"exists": {"field": "user.name"}}],
                            }
                        },
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    for path, value in (
        ("user.target.name", query.target_user),
        ("event.action", query.action),
        ("event.category", query.category),
        ("event.outcome", query.outcome),
        ("source.ip", query.source_ip),
        ("host.name", query.host),
    ):
        if value is not None:
            filters.append(_term(path, value))
    if query.since is not None or query.until is not None:
        span = {}
        if query.since is not None:
            span["gte"] = query.since
        if query.until is not None:
            span["lt"] = query.until
        filters.append({"range": {"@timestamp": span}})
    if query.text:
        filters.append({"match": {"message": {"query": " ".join(query.text), "operator": "and"}}})
    return {"bool": {"filter": filters}}


def nanos(ts: str) -> int:
    when = parse_ts(ts)
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000


def sort(order: str) -> list[dict]:
    return [{"@timestamp": {"order": order}}, {"event.id": {"order": order}}]


class EsReader:
    def __init__(self, client):
        self.client = client

    async def page(self, query: EventQuery) -> tuple[list[dict], bool]:
        extra = {}
        if query.after is not None:
            extra["search_after"] = [nanos(query.after[0]), query.after[1]]
        reply = await self.client.search(
            index=templates.data_stream(query.tenant),
            query=query_body(query),
            sort=sort(query.order),
            size=query.limit + 1,
            ignore_unavailable=True,
            allow_no_indices=True,
            track_total_hits=False,
            **extra,
        )
        hits = reply.body["hits"]["hits"]
        return [hit["_source"] for hit in hits[: query.limit]], len(hits) > query.limit

    async def count(self, query: EventQuery) -> int:
        reply = await self.client.count(
            index=templates.data_stream(query.tenant),
            query=query_body(query),
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        return int(reply.body["count"])

    async def agents(self, tenant: str) -> list[dict]:
        """Each agent of the tenant: a terms aggregation on ``agent.id``, the highest sequence
        and the newest event's own ``@timestamp`` (a top hit, so it reads as SQLite's does)."""
        reply = await self.client.search(
            index=templates.data_stream(tenant),
            query={"bool": {"filter": [_term("organization.id", tenant)]}},
            size=0,
            aggs={
                "agents": {
                    "terms": {"field": "agent.id", "size": 10_000, "order": {"_key": "asc"}},
                    "aggs": {
                        "last_sequence": {"max": {"field": "event.sequence"}},
                        "newest": {
                            "top_hits": {
                                "size": 1,
                                "sort": [{"@timestamp": {"order": "desc"}}],
                                "_source": ["@timestamp"],
                            }
                        },
                    },
                }
            },
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        buckets = ((reply.body.get("aggregations") or {}).get("agents") or {}).get("buckets", [])
        return [
            {
                "agent": b["key"],
                "events": b["doc_count"],
                "last_sequence": int(b["last_sequence"]["value"]),
                "last_event_at": b["newest"]["hits"]["hits"][0]["_source"]["@timestamp"],
            }
            for b in buckets
        ]
