"""Admin API queries on Elasticsearch: the same filters as the SQLite index.

Tenant scoping is done twice: the tenant's own data stream, and a filter on
``organization.id``. Newest first; pages are walked with ``search_after`` so a limit up to
``MAX_LIMIT`` never needs deep ``from`` paging.
"""

from __future__ import annotations

from ...query import EventQuery
from . import templates

PAGE = 1000


def query_body(query: EventQuery) -> dict:
    filters: list[dict] = [{"term": {"organization.id": query.tenant}}]
    if query.user is not None:
        filters.append(
            {
                "bool": {
                    "should": [{"term": {"user.name": query.user}}, {"term": {"user.id": query.user}}],
                    "minimum_should_match": 1,
                }
            }
        )
    if query.action is not None:
        filters.append({"term": {"event.action": query.action}})
    if query.since is not None or query.until is not None:
        span = {}
        if query.since is not None:
            span["gte"] = query.since
        if query.until is not None:
            span["lt"] = query.until
        filters.append({"range": {"@timestamp": span}})
    return {"bool": {"filter": filters}}


SORT = [{"@timestamp": {"order": "desc"}}, {"event.id": {"order": "desc"}}]


async def search(client, query: EventQuery) -> list[dict]:
    found: list[dict] = []
    after = None
    while len(found) < query.limit:
        size = min(PAGE, query.limit - len(found))
        extra = {"search_after": after} if after is not None else {}
        reply = await client.search(
            index=templates.data_stream(query.tenant),
            query=query_body(query),
            sort=SORT,
            size=size,
            ignore_unavailable=True,
            allow_no_indices=True,
            track_total_hits=False,
            **extra,
        )
        hits = reply.body["hits"]["hits"]
        found.extend(hit["_source"] for hit in hits)
        if len(hits) < size:
            break
        after = hits[-1]["sort"]
    return found
