"""Admin routes for operators and auditors beside event search: inclusion proofs, alerts and
dead letters, agents and their gaps, checkpoints with the last verification, the collector's
status (admin only), and who the caller is. Each reads only the tenant the principal may."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from auditseal.audit.prove import newest_checkpoint, proof_from_index
from auditseal.errors import Rejected
from auditseal.formats.event import format_ts, parse_ts
from auditseal.storage import archive

from ..query import EventQuery
from .common import error
from .events import index_down


def scoped(request: web.Request, allowed: set[str]) -> str:
    """The tenant of a call (raises ``Rejected``); unknown parameters are refused too."""
    q = request.query
    request["audit"] = {"tenant": q.get("tenant")}
    unknown = sorted(set(q) - allowed - {"tenant"})
    if unknown:
        raise Rejected("bad_query", f"unknown parameter {unknown[0]!r}")
    if len(q.getall("tenant", [])) > 1:
        raise Rejected("bad_query", "tenant: give one")
    tenant = request["principal"].tenant_for(q.get("tenant"))
    request["audit"] = {"tenant": tenant, "query": {k: v for k, v in q.items() if k != "cursor"}}
    return tenant


def no_parameters(request: web.Request) -> None:
    """Routes about the caller take no parameter: a ``tenant`` (or anything) given is refused,
    so no one mistakes the answer for another tenant's."""
    if request.query:
        raise Rejected("bad_query", f"unknown parameter {sorted(request.query)[0]!r}")


def parameterless(handler):
    """A route that refuses any parameter (``no_parameters``) before it runs."""

    async def route(self, request: web.Request) -> web.Response:
        try:
            no_parameters(request)
        except Rejected as exc:
            return error(exc.reason, str(exc))
        return await handler(self, request)

    route.__doc__ = handler.__doc__
    return route


class OperatorRoutes:
    def __init__(self, reader, store, verifiers, alerts, cipher, proofs, readiness, monitor=None):
        self.reader, self.store, self.verifiers, self.alerts = reader, store, verifiers, alerts
        self.cipher, self.proofs, self.readiness, self.monitor = cipher, proofs, readiness, monitor

    @parameterless
    async def whoami(self, request: web.Request) -> web.Response:
        p = request["principal"]
        tenants = sorted(p.tenants) if p.tenants is not None else None
        return web.json_response({"name": p.name, "kind": p.kind, "roles": list(p.roles), "tenants": tenants})

    @parameterless
    async def tenants(self, request: web.Request) -> web.Response:
        """The tenants the caller may read: all of the archive's for an admin, else its own."""
        p = request["principal"]
        known = sorted({t for t, _ in await asyncio.to_thread(archive.list_logs, self.store)})
        mine = known if p.tenants is None else sorted(p.tenants)
        request["audit"] = {"results": len(mine)}
        return web.json_response({"tenants": mine})

    async def proof(self, request: web.Request) -> web.Response:
        """Inclusion proof bundle for ``event_id`` (see auditseal.audit.prove), from the proof index."""
        try:
            tenant = scoped(request, {"event_id"})
            event_id = request.query.get("event_id", "")
            if not re.fullmatch(r"[0-9a-f]{32}", event_id):
                raise Rejected("bad_query", "event_id (32 hex digits) is required")
            bundle = await asyncio.to_thread(
                proof_from_index, self.store, self.proofs, event_id, self.verifiers, tenant, self.cipher
            )
        except Rejected as exc:
            return error(exc.reason, str(exc))
        request["audit"]["results"] = 1
        return web.json_response(bundle)

    async def list_alerts(self, request: web.Request) -> web.Response:
        """A tenant's alerts, newest first, each with its deliveries per channel. Filters:
        ``rule``, ``severity``, ``since``/``until`` (alert time, ISO UTC); ``limit`` (≤ 1000) and
        ``cursor`` (from the previous page's ``next_cursor``)."""
        q = request.query
        try:
            tenant = scoped(request, {"rule", "severity", "since", "until", "limit", "cursor"})
            limit = q.get("limit", "100")
            if not limit.isdigit() or not 1 <= int(limit) <= 1000:
                raise Rejected("bad_query", "limit: a whole number from 1 to 1000")
            severity = q.get("severity")
            if severity and severity not in ("low", "medium", "high", "critical"):
                raise Rejected("bad_query", "severity: one of low, medium, high, critical")
            bounds = {}
            for key in ("since", "until"):
                if q.get(key):
                    try:
                        bounds[key] = format_ts(parse_ts(q[key]))
                    except Rejected:
                        raise Rejected("bad_query", f"{key}: not an ISO 8601 time") from None
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
        request["audit"]["results"] = len(found)
        return web.json_response({"count": len(found), "alerts": found, "next_cursor": nxt})

    async def dead_letters(self, request: web.Request) -> web.Response:
        """A tenant's deliveries given up (4xx, or retried past the channel's give_up_after)."""
        try:
            tenant = scoped(request, set())
        except Rejected as exc:
            return error(exc.reason, str(exc))
        found = await asyncio.to_thread(self.alerts.dead_letters, tenant)
        request["audit"]["results"] = len(found)
        return web.json_response({"count": len(found), "dead_letters": found})

    async def agents(self, request: web.Request) -> web.Response:
        """The agents that wrote for the tenant: events, last sequence, last event time, and
        the sequence gaps the collector recorded for each (``sequence_gap`` events)."""
        try:
            tenant = scoped(request, set())
            found = await self.reader.agents(tenant)
            gaps, _ = await self.reader.page(EventQuery(tenant, action="sequence_gap", limit=1000))
        except Rejected as exc:
            return error(exc.reason, str(exc))
        except Exception as exc:
            return index_down(exc)
        by_agent: dict[str, list] = {}
        for g in gaps:
            labels = g.get("labels") or {}
            by_agent.setdefault(labels.get("gap_agent"), []).append(
                {
                    "first": labels.get("gap_first"),
                    "last": labels.get("gap_last"),
                    "declared": labels.get("gap_declared"),
                    "at": g["@timestamp"],
                }
            )
        agents = [a for a in found if not a["agent"].startswith("collector.")]
        for a in agents:
            a["gaps"] = by_agent.get(a["agent"], [])
        request["audit"]["results"] = len(agents)
        return web.json_response({"tenant": tenant, "agents": agents})

    async def checkpoints(self, request: web.Request) -> web.Response:
        """The newest signed checkpoint of each of the tenant's logs and the last verification."""
        try:
            tenant = scoped(request, set())
        except Rejected as exc:
            return error(exc.reason, str(exc))
        logs = [f"{t}/{p}" for t, p in await asyncio.to_thread(archive.list_logs, self.store) if t == tenant]
        report = self.monitor.last_report if self.monitor is not None else None
        out = []
        for log in logs:
            entry: dict = {"log": log}
            try:
                checkpoint, note = await asyncio.to_thread(newest_checkpoint, self.store, log, self.verifiers)
                entry.update(size=checkpoint.size, origin=checkpoint.origin, note=note)
            except Rejected as exc:
                entry["error"] = str(exc)
            if report is not None:
                findings = [f.line() for f in report.findings if f.log == log]
                entry["verification"] = {
                    "at": getattr(self.monitor, "last_at", None),
                    "events_verified": report.logs.get(log, 0),
                    "findings": findings,
                    "ok": not findings,
                }
            out.append(entry)
        request["audit"]["results"] = len(out)
        keys = [v.encode() for v in self.verifiers]  # public: anyone may check the notes with them
        return web.json_response({"tenant": tenant, "logs": out, "verifier_keys": keys})

    async def status(self, request: web.Request) -> web.Response:
        """The collector's sinks and journal (admin only: it is about every tenant)."""
        try:
            request["principal"].require_admin()
            no_parameters(request)
        except Rejected as exc:
            return error(exc.reason, str(exc))
        ready, details = self.readiness()
        return web.json_response({"ready": ready, **details})
