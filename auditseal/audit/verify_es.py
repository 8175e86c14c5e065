"""Index rows for ``auditseal verify --index es:URL``: a tenant's events as Elasticsearch holds them.

Read-only: walks the audit data streams with ``search_after`` (sorted by ``event.id``) and a
filter on ``organization.id``. Each ``_source`` is re-serialised canonically, so an edited
field shows as a mismatch with the sealed leaf. An API key may come from
``AUDITSEAL_ES_API_KEY``.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable

from auditseal.audit.verify import IndexRow
from auditseal.errors import Halt, Retryable
from auditseal.formats.event import canonical_bytes
from auditseal.formats.index_layout import ES_STREAM_PATTERN

STREAMS = ES_STREAM_PATTERN
PAGE = 5000


def elasticsearch_index(url: str, streams: str = STREAMS) -> Callable[[str], Iterable[IndexRow]]:
    from elasticsearch import ApiError, Elasticsearch, TransportError

    options = {"api_key": os.environ["AUDITSEAL_ES_API_KEY"]} if os.environ.get("AUDITSEAL_ES_API_KEY") else {}
    client = Elasticsearch(url, request_timeout=60, **options)

    def rows(tenant: str) -> Iterable[IndexRow]:
        after = None
        while True:
            extra = {"search_after": after} if after is not None else {}
            try:
                reply = client.search(
                    index=streams,
                    query={"bool": {"filter": [{"term": {"organization.id": tenant}}]}},
                    sort=[{"event.id": "asc"}],
                    size=PAGE,
                    ignore_unavailable=True,
                    allow_no_indices=True,
                    track_total_hits=False,
                    **extra,
                )
            except TransportError as exc:
                raise Retryable(f"{url}: Elasticsearch unreachable: {exc}") from None
            except ApiError as exc:
                raise Halt(f"{url}: Elasticsearch refused the search: {exc.meta.status} {exc.message}") from None
            hits = reply.body["hits"]["hits"]
            for hit in hits:
                doc = hit["_source"]
                event = doc.get("event", {})
                yield IndexRow(
                    event.get("id", hit["_id"]),
                    doc.get("agent", {}).get("id", ""),
                    event.get("sequence", 0),
                    canonical_bytes(doc),
                )
            if len(hits) < PAGE:
                return
            after = hits[-1]["sort"]

    return rows
