"""The admin API: health, readiness, metrics, event queries, inclusion proofs and alerts.
Every ``/v1/`` route sits behind ``auth.TokenAuth``; refusals are answered from ``STATUS``."""

from __future__ import annotations

import asyncio
import logging
import re

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from auditseal.audit.prove import build_proof
from auditseal.errors import Rejected
from auditseal.formats.event import format_ts, parse_ts
from auditseal.logs import kv

from ..metrics import CollectorMetrics
from ..query import EventQuery
from .auth import TokenAuth

log = logging.getLogger("auditseal.collector.admin")

STATUS = {
    "bad_query": 400,
    "not_found": 404,
    "no_checkpoint": 404,
    "archive_incomplete": 409,
    "encrypted": 403,
    "index_unavailable": 503,
}


def error(reason: str, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"error": message, "reason": reason}, status=STATUS.get(reason, 400), headers=headers)


class Admin:
    def __init__(
        self,
        token_hashes: list[str],
        search,
        metrics: CollectorMetrics,
        readiness,
        store=None,
        verifiers=None,
        alerts=None,
        cipher=None,
    ):
        self.auth = TokenAuth(token_hashes)
        self.search = search  # async (EventQuery) -> list[dict], from the configured index
        self.store = store
        self.verifiers = verifiers or []
        self.alerts = alerts
        self.cipher = cipher
        self.metrics = metrics
        self.readiness = readiness  # () -> (ready: bool, details: dict)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.auth.middleware])
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics_text)
        app.router.add_get("/v1/events", self.events)
        app.router.add_get("/v1/proof", self.proof)
        app.router.add_get("/v1/alerts", self.list_alerts)
        app.router.add_get("/v1/alerts/dead-letters", self.dead_letters)
        return app

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _request: web.Request) -> web.Response:
        ready, details = self.readiness()
        return web.json_response({"ready": ready, **details}, status=200 if ready else 503)

    async def metrics_text(self, _request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def list_alerts(self, request: web.Request) -> web.Response:
        """A tenant's alerts, newest first, each with its deliveries per channel. Filters:
        ``rule``, ``severity``, ``since``/``until`` (alert time, ISO UTC); ``limit`` (≤ 1000) and
        ``cursor`` (from the previous page's ``next_cursor``)."""
        q = request.query
        tenant = q.get("tenant")
        if not tenant:
            return error("bad_query", "tenant is required")
        unknown = sorted(set(q) - {"tenant", "rule", "severity", "since", "until", "limit", "cursor"})
        if unknown:
            return error("bad_query", f"unknown parameter {unknown[0]!r}")
        limit = q.get("limit", "100")
        if not limit.isdigit() or not 1 <= int(limit) <= 1000:
            return error("bad_query", "limit: a whole number from 1 to 1000")
        severity = q.get("severity")
        if severity and severity not in ("low", "medium", "high", "critical"):
            return error("bad_query", "severity: one of low, medium, high, critical")
        bounds = {}
        for key in ("since", "until"):
            if q.get(key):
                try:
                    bounds[key] = format_ts(parse_ts(q[key]))
                except Rejected:
                    return error("bad_query", f"{key}: not an ISO 8601 time")
        try:
            found, nxt = await asyncio.to_thread(
                self.alerts.query,
                tenant,
                int(limit),
                q.get("rule"),
                severity,
                bounds.get("since"),
                bounds.get("until"),
                q.get("cursor"),
            )
        except Rejected as exc:
            return error(exc.reason, str(exc))
        return web.json_response({"count": len(found), "alerts": found, "next_cursor": nxt})

    async def dead_letters(self, request: web.Request) -> web.Response:
        """A tenant's deliveries given up (4xx, or retried past the channel's give_up_after)."""
        tenant = request.query.get("tenant")
        if not tenant:
            return error("bad_query", "tenant is required")
        found = await asyncio.to_thread(self.alerts.dead_letters, tenant)
        return web.json_response({"count": len(found), "dead_letters": found})

    async def proof(self, request: web.Request) -> web.Response:
        """Inclusion proof bundle for ``event_id`` in ``tenant``'s log (see auditseal.audit.prove)."""
        event_id, tenant = request.query.get("event_id", ""), request.query.get("tenant", "")
        if not re.fullmatch(r"[0-9a-f]{32}", event_id) or not tenant:
            return error("bad_query", "event_id (32 hex digits) and tenant are required")
        try:
            bundle = await asyncio.to_thread(build_proof, self.store, event_id, self.verifiers, tenant, self.cipher)
        except Rejected as exc:
            return error(exc.reason, str(exc))
        return web.json_response(bundle)

    async def events(self, request: web.Request) -> web.Response:
        try:
            query = EventQuery.from_params(request.query)
        except Rejected as exc:
            return error(exc.reason, str(exc))
        try:
            found = await self.search(query)
        except Exception as exc:  # the index is down: say so, without its internals
            log.error("index query failed", extra=kv(error=f"{type(exc).__name__}: {exc}"))
            return error("index_unavailable", "the index cannot be queried now; retry later", {"Retry-After": "5"})
        return web.json_response({"count": len(found), "events": found})
