"""The admin API: health, readiness, metrics, event search and export, inclusion proofs,
alerts, agents, checkpoints, status, the OpenAPI description and the web UI at ``/ui``.

Middlewares, outermost first: ``auth.Authenticator`` (who is calling, rate limits) and
``trail.AdminTrail`` (every call an ``auditseal.query`` audit event). Handlers get the tenant
from the principal (``auditseal.access``); refusals are answered from ``common.STATUS``.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..metrics import CollectorMetrics
from .auth import Authenticator
from .common import STATUS, error
from .events import EventRoutes
from .openapi import spec
from .operators import OperatorRoutes
from .trail import AdminTrail

UI_DIR = Path(__file__).with_name("ui")
__all__ = ["Admin", "STATUS", "error"]


class Admin:
    def __init__(
        self,
        auth: Authenticator,
        trail: AdminTrail,
        reader,
        metrics: CollectorMetrics,
        readiness,
        store=None,
        verifiers=None,
        alerts=None,
        cipher=None,
        proofs=None,
        monitor=None,
    ):
        self.auth, self.trail, self.metrics, self.readiness = auth, trail, metrics, readiness
        self.events = EventRoutes(reader, trail)
        self.operators = OperatorRoutes(reader, store, verifiers or [], alerts, cipher, proofs, readiness, monitor)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.auth.middleware, self.trail.middleware])
        r = app.router
        r.add_get("/healthz", self.healthz)
        r.add_get("/readyz", self.readyz)
        r.add_get("/metrics", self.metrics_text)
        r.add_get("/v1/openapi.json", self.openapi)
        r.add_get("/v1/whoami", self.operators.whoami)
        r.add_get("/v1/tenants", self.operators.tenants)
        r.add_get("/v1/events", self.events.events)
        r.add_get("/v1/events/count", self.events.count)
        r.add_get("/v1/events/export", self.events.export)
        r.add_get("/v1/proof", self.operators.proof)
        r.add_get("/v1/alerts", self.operators.list_alerts)
        r.add_get("/v1/alerts/dead-letters", self.operators.dead_letters)
        r.add_get("/v1/agents", self.operators.agents)
        r.add_get("/v1/checkpoints", self.operators.checkpoints)
        r.add_get("/v1/status", self.operators.status)
        r.add_get("/ui", self.ui_page)
        r.add_get("/ui/", self.ui_page)
        r.add_static("/ui/static/", UI_DIR, show_index=False, follow_symlinks=False)
        return app

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _request: web.Request) -> web.Response:
        ready, details = self.readiness()
        return web.json_response({"ready": ready, **details}, status=200 if ready else 503)

    async def metrics_text(self, _request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def openapi(self, _request: web.Request) -> web.Response:
        return web.json_response(spec())

    async def ui_page(self, _request: web.Request) -> web.Response:
        return web.FileResponse(
            UI_DIR / "index.html",
            headers={
                "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store",
            },
        )
