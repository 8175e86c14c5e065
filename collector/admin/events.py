"""Event search on the admin API: a page (``/v1/events``), a count (``/v1/events/count``) and
a streamed export of every match (``/v1/events/export``, NDJSON or CSV). The tenant is the
one the principal may read (``Principal.tenant_for``); the filters are ``collector.query``'s."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import replace

import orjson
from aiohttp import web

from auditseal.errors import Rejected
from auditseal.logs import kv

from ..query import EventQuery
from .common import error, field

log = logging.getLogger("auditseal.collector.admin")
EXPORT_PAGE = 2000
CSV_COLUMNS = (
    "@timestamp",
    "event.id",
    "organization.id",
    "event.action",
    "event.category",
    "event.outcome",
    "user.name",
    "user.target.name",
    "source.ip",
    "host.name",
    "agent.id",
    "event.sequence",
    "message",
)


def csv_row(doc: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    cells = []
    for path in CSV_COLUMNS:
        value = field(doc, path)
        cell = "|".join(map(str, value)) if isinstance(value, list) else "" if value is None else str(value)
        if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):  # spreadsheet formula injection
            cell = "'" + cell
        cells.append(cell)
    writer.writerow(cells)
    return out.getvalue()


def index_down(exc: Exception) -> web.Response:
    log.error("index query failed", extra=kv(error=f"{type(exc).__name__}: {exc}"))
    return error("index_unavailable", "the index cannot be queried now; retry later", {"Retry-After": "5"})


class EventRoutes:
    def __init__(self, reader, trail):
        self.reader, self.trail = reader, trail

    def query(self, request: web.Request, paged: bool = True, extra: frozenset = frozenset()) -> EventQuery:
        if len(request.query) != len(set(request.query.keys())):
            raise Rejected("bad_query", "a parameter is given twice")
        params = {k: v for k, v in request.query.items() if k not in extra}
        request["audit"] = {"tenant": request.query.get("tenant")}
        tenant = request["principal"].tenant_for(request.query.get("tenant"))
        request["audit"] = {"tenant": tenant}
        query = EventQuery.from_params(params, tenant, paged)
        request["audit"]["query"] = query.described()
        return query

    async def events(self, request: web.Request) -> web.Response:
        try:
            query = self.query(request)
        except Rejected as exc:
            return error(exc.reason, str(exc))
        try:
            found, more = await self.reader.page(query)
        except Exception as exc:  # the index is down: say so, without its internals
            return index_down(exc)
        request["audit"]["results"] = len(found)
        return web.json_response({"count": len(found), "events": found, "next_cursor": query.next_cursor(found, more)})

    async def count(self, request: web.Request) -> web.Response:
        try:
            query = self.query(request, paged=False)
        except Rejected as exc:
            return error(exc.reason, str(exc))
        try:
            n = await self.reader.count(query)
        except Exception as exc:
            return index_down(exc)
        request["audit"]["results"] = n
        return web.json_response({"tenant": query.tenant, "count": n})

    async def export(self, request: web.Request) -> web.StreamResponse:
        """Every match, oldest first unless ``order=desc``, walked page by page with the cursor."""
        form = request.query.get("format", "ndjson")
        if form not in ("ndjson", "csv"):
            return error("bad_query", "format: ndjson or csv")
        try:
            query = self.query(request, extra=frozenset({"format"}))
        except Rejected as exc:
            return error(exc.reason, str(exc))
        if "limit" in request.query or "cursor" in request.query:
            return error("bad_query", "export takes every match: no limit or cursor")
        query = replace(query, limit=EXPORT_PAGE, order=request.query.get("order", "asc"))
        try:
            first, more = await self.reader.page(query)
        except Exception as exc:
            return index_down(exc)
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/x-ndjson" if form == "ndjson" else "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="auditseal-{query.tenant}.{form}"',
            }
        )
        request["audited"] = True
        sent, status = 0, 200
        try:
            await response.prepare(request)
            if form == "csv":
                await response.write((",".join(CSV_COLUMNS) + "\r\n").encode())
            page = first
            while True:
                chunk = b"".join(orjson.dumps(d) + b"\n" if form == "ndjson" else csv_row(d).encode() for d in page)
                if chunk:
                    await response.write(chunk)
                sent += len(page)
                if not more:
                    break
                query = replace(query, after=(page[-1]["@timestamp"], page[-1]["event"]["id"]))
                page, more = await self.reader.page(query)
            await response.write_eof()
        except Exception as exc:  # the client went away, or the index mid-way: the record says so
            status = 499 if isinstance(exc, ConnectionResetError) else 500
            log.error("export cut short", extra=kv(sent=sent, error=f"{type(exc).__name__}: {exc}"))
        finally:
            try:
                await self.trail.record(request, status, query.tenant, sent, query.described())
            except Exception as exc:
                log.error("export not recorded", extra=kv(path=request.path, error=f"{type(exc).__name__}: {exc}"))
        return response
