"""Every admin call is itself an audit event (``auditseal.query``), journaled on the
collector's own stream into the log of the tenant it read (``admin.audit_tenant`` for calls
about no tenant and for refusals), and so deduplicated, indexed and sealed like any event.

A call whose record cannot be journaled is answered 503: nothing is read unrecorded.
"""

from __future__ import annotations

import logging
from functools import partial

import orjson
from aiohttp import web

from auditseal.access import Principal
from auditseal.formats.event import event_id, utc_now_iso
from auditseal.logs import kv

log = logging.getLogger("auditseal.collector.admin.trail")
ACTION = "auditseal.query"
UNRECORDED_PATHS = frozenset({"/v1/whoami"})  # the UI's sign-in check reads nothing


def query_event(
    own_agent: str,
    sequence: int,
    now: str,
    tenant: str,
    principal: Principal,
    method: str,
    path: str,
    status: int,
    results: int | None,
    described: dict | None,
    remote: str | None,
) -> dict:
    """The ECS event for one admin call (pure)."""
    what = orjson.dumps(described or {}, option=orjson.OPT_SORT_KEYS).decode()
    doc = {
        "@timestamp": now,
        "event": {
            "action": ACTION,
            "kind": "event",
            "category": ["database"],
            "type": ["access"],
            "outcome": "success" if status < 400 else "failure",
            "sequence": sequence,
            "created": now,
            "id": event_id(own_agent, sequence),
        },
        "organization": {"id": tenant},
        "agent": {"id": own_agent},
        "user": {"name": principal.name, "roles": list(principal.roles)},
        "url": {"path": path},
        "http": {"request": {"method": method}, "response": {"status_code": status}},
        "message": f"{principal.name} {method} {path} -> {status}"
        + (f", {results} results" if results is not None else ""),
        "labels": {"query": what, "results": results if results is not None else -1, "credential": principal.kind},
    }
    if remote:
        doc["source"] = {"ip": remote}
    return doc


class AdminTrail:
    def __init__(self, own, audit_tenant: str, metrics=None):
        self.own, self.audit_tenant, self.metrics = own, audit_tenant, metrics

    async def record(
        self,
        request: web.Request,
        status: int,
        tenant: str | None = None,
        results: int | None = None,
        described: dict | None = None,
    ) -> None:
        principal: Principal = request["principal"]
        where = tenant if tenant and principal.may_read(tenant) else self.audit_tenant
        now = utc_now_iso()
        doc_for = partial(
            query_event,
            self.own.agent,
            now=now,
            tenant=where,
            principal=principal,
            method=request.method,
            path=request.path,
            status=status,
            results=results,
            described=described,
            remote=request.remote,
        )
        await self.own.append([(where, lambda seq: doc_for(seq))], now)
        if self.metrics is not None:
            route = request.match_info.route.resource
            self.metrics.admin_calls.labels(route.canonical if route is not None else "other").inc()

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        if "principal" not in request or request.path in UNRECORDED_PATHS:
            return await handler(request)
        response = await handler(request)
        if request.get("audited"):  # a streamed answer records itself when it ends
            return response
        facts = request.get("audit", {})
        try:
            await self.record(request, response.status, facts.get("tenant"), facts.get("results"), facts.get("query"))
        except Exception as exc:  # the journal cannot take it now: answer nothing unrecorded
            log.error(
                "admin call not recorded; refused", extra=kv(path=request.path, error=f"{type(exc).__name__}: {exc}")
            )
            return web.json_response(
                {"error": "the audit trail cannot record this call now; retry later", "reason": "unavailable"},
                status=503,
                headers={"Retry-After": "5"},
            )
        return response
