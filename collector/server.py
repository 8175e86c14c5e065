"""HTTP shells: the mTLS ingest endpoint and the admin API (health, metrics, query)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from collections import defaultdict
from functools import partial

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from auditseal import wire
from auditseal.errors import Rejected
from auditseal.event import utc_now_iso
from auditseal.logs import kv
from auditseal.prove import build_proof
from auditseal.tls import identity_from_der

from .admit import admit, by_tenant
from .gaps import declared, find_holes, gap_event
from .own_stream import OwnStream
from .journal import BatchMeta, Journal, encode_batch
from .metrics import CollectorMetrics
from .query import EventQuery

log = logging.getLogger("auditseal.collector.server")


def error(status: int, reason: str, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"error": message, "reason": reason}, status=status, headers=headers)


class Ingest:
    def __init__(self, journal: Journal, hmac_keys: dict[str, dict[str, bytes]], limits: wire.Limits,
                 metrics: CollectorMetrics, own: OwnStream, body_timeout: float = 30.0):
        self.body_timeout = body_timeout
        self.deadline = None  # ingest_guard.HeaderDeadline, set by the site that serves this
        self.journal = journal
        self.own = own
        self._keys = hmac_keys
        self.limits = limits
        self.metrics = metrics
        self._agent_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.limits.max_body_bytes)
        app.router.add_post(wire.PATH, self.handle_batch)
        return app

    async def handle_batch(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        if self.deadline is not None:
            self.deadline.started(request)
        try:
            if self.journal.full():
                # Sinks are far behind (index or archive down): agents keep events in their
                # spools until the journal drains, rather than the collector's disk filling.
                raise Rejected("journal_full", "journal bound reached; sinks are catching up", 503)
            response = await self._handle(request)
        except Rejected as exc:
            self.metrics.rejects.labels(exc.reason).inc()
            log.warning("batch refused", extra=kv(status=exc.status, reason=exc.reason, error=str(exc),
                                                  peer=request.remote))
            response = error(exc.status, exc.reason, str(exc),
                             {"Retry-After": "10"} if exc.status == 503 else None)
        except ClientGone as gone:  # nothing to answer: the client is not there to read it
            self.metrics.slow_clients.labels(gone.reason).inc()
            log.warning("ingest client cut or gone before its body arrived",
                        extra=kv(reason=gone.reason, peer=request.remote))
            if request.transport is not None:
                request.transport.abort()
            response = error(408, gone.reason, "request body not received")
        except OSError as exc:  # journal cannot be written: the agent keeps the batch and retries
            self.metrics.rejects.labels("journal_unavailable").inc()
            log.error("journal write failed", extra=kv(error=str(exc)))
            response = error(503, "journal_unavailable", "journal unavailable", {"Retry-After": "5"})
        if response.status >= 400 and not request.get("body_read"):
            response.force_close()  # refused before its body was read: no lingering for it
        self.metrics.batches.labels(str(response.status)).inc()
        self.metrics.ack_seconds.observe(time.perf_counter() - started)
        return response

    async def _handle(self, request: web.Request) -> web.Response:
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        identity = identity_from_der(der) if der else None
        if identity is None:
            raise Rejected("bad_certificate", "client certificate names no agent", 401)
        header = wire.parse_headers(request.headers)
        if header.agent != identity.agent_id:
            raise Rejected("agent_mismatch", f"{wire.H_AGENT} is not the certificate's agent", 403)
        if request.content_length is None:
            raise Rejected("length_required", "Content-Length is required", 411)
        if request.content_length > self.limits.max_body_bytes:
            raise Rejected("body_too_large", f"body of {request.content_length} bytes > "
                                             f"{self.limits.max_body_bytes}", 413)
        wire.check_skew(header, time.time(), self.limits)
        key = self._keys.get(header.agent, {}).get(header.key_id)
        if key is None:
            raise Rejected("unknown_key", f"unknown key id {header.key_id!r} for this agent", 401)
        body = await self._read_body(request)
        self.metrics.bytes.inc(len(body))
        wire.verify_signature(key, header, body)
        lines, events = wire.split_events(wire.decompress(body, self.limits), self.limits)
        ingested = utc_now_iso()
        admitted, refused = admit(identity, header, lines, events, ingested, self.limits.max_event_bytes)
        # One request per agent at a time from here: a retry racing its original must see
        # the original's sequences as stored.
        async with self._agent_locks[header.agent]:
            fresh = self.journal.dedupe.fresh(header.agent, admitted)
            if fresh:
                records = [(group[-1][0], encode_batch(BatchMeta(header.agent, tenant, ingested),
                                                       [line for _, line in group]))
                           for tenant, group in by_tenant(fresh).items()]
                holes = find_holes(self.journal.dedupe.acked(header.agent), [seq for seq, _, _ in fresh])
                async with self.own.lock:
                    own_records, own_last = self.own.records([
                        (fresh[at][1], partial(gap_event, self.own.agent, tenant=fresh[at][1],
                                               agent=header.agent, first=a, last=b,
                                               is_declared=declared(a, b, header.gaps), now=ingested))
                        for a, b, at in holes], ingested)
                    # The batch and the gap events it reveals are journaled together.
                    await self.journal.append(records + own_records)
                    if own_records:
                        self.own.committed(own_last)
                self.journal.dedupe.stored(header.agent, fresh[-1][0])
                for a, b, _ in holes:
                    self.metrics.gaps.labels("declared" if declared(a, b, header.gaps) else "undeclared").inc(b - a + 1)
                    log.error("sequence gap in an agent's stream", extra=kv(
                        agent=header.agent, first=a, last=b, declared=declared(a, b, header.gaps)))
            acked = self.journal.dedupe.acked(header.agent)
        # Refusals of events already stored (a resend) were told with the first answer.
        fresh_seqs = {f[0] for f in fresh} if refused else set()
        told = [r for r in refused if r.seq in fresh_seqs]
        for r in told:
            self.metrics.event_rejects.labels(r.reason).inc()
            log.warning("event refused; an event_rejected record takes its place", extra=kv(
                agent=header.agent, seq=r.seq, reason=r.reason, error=r.message))
        self.metrics.events.inc(len(fresh) - len(told))
        self.metrics.duplicates.inc(len(admitted) - len(fresh))
        return web.json_response({"accepted": len(fresh) - len(told), "duplicates": len(admitted) - len(fresh),
                                  "acked_seq": acked,
                                  "rejected": [{"seq": r.seq, "reason": r.reason, "error": r.message}
                                               for r in told]})


    async def _read_body(self, request: web.Request) -> bytes:
        try:
            body = await asyncio.wait_for(request.read(), self.body_timeout)
            request["body_read"] = True
            return body
        except asyncio.TimeoutError:
            raise ClientGone("body_timeout") from None
        except (ConnectionError, asyncio.IncompleteReadError, HttpProcessingError, ClientPayloadError):
            raise ClientGone("client_disconnected") from None


class ClientGone(Exception):
    """The client stopped sending (too slow, or hung up) before its request was whole."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Admin:
    def __init__(self, token_hashes: list[str], search, metrics: CollectorMetrics,
                 readiness, store=None, verifiers=None, alerts=None, cipher=None):
        self._token_hashes = [bytes.fromhex(h) for h in token_hashes]
        self.search = search  # async (EventQuery) -> list[dict], from the configured index
        self.store = store
        self.verifiers = verifiers or []
        self.alerts = alerts
        self.cipher = cipher
        self.metrics = metrics
        self.readiness = readiness  # () -> (ready: bool, details: dict)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics_text)
        app.router.add_get("/v1/events", self.events)
        app.router.add_get("/v1/proof", self.proof)
        app.router.add_get("/v1/alerts", self.list_alerts)
        return app

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _request: web.Request) -> web.Response:
        ready, details = self.readiness()
        return web.json_response({"ready": ready, **details}, status=200 if ready else 503)

    async def metrics_text(self, _request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    def _authorised(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        digest = hashlib.sha256(token.strip().encode()).digest()
        return any(hmac.compare_digest(digest, h) for h in self._token_hashes)

    def _unauthorised(self) -> web.Response:
        return error(401, "unauthorised", "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"})

    async def list_alerts(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        tenant = request.query.get("tenant")
        if not tenant:
            return error(400, "bad_query", "tenant is required")
        found = await asyncio.to_thread(self.alerts.list, tenant)
        return web.json_response({"count": len(found), "alerts": found})

    async def proof(self, request: web.Request) -> web.Response:
        """Inclusion proof bundle for ``event_id`` in ``tenant``'s log (see auditseal.prove)."""
        if not self._authorised(request):
            return self._unauthorised()
        event_id, tenant = request.query.get("event_id", ""), request.query.get("tenant", "")
        if not re.fullmatch(r"[0-9a-f]{32}", event_id) or not tenant:
            return error(400, "bad_query", "event_id (32 hex digits) and tenant are required")
        try:
            bundle = await asyncio.to_thread(build_proof, self.store, event_id, self.verifiers, tenant,
                                             self.cipher)
        except Rejected as exc:
            return error(exc.status, exc.reason, str(exc))
        return web.json_response(bundle)

    async def events(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        try:
            query = EventQuery.from_params(request.query)
        except Rejected as exc:
            return error(exc.status, exc.reason, str(exc))
        try:
            found = await self.search(query)
        except Exception as exc:  # the index is down: say so, without its internals
            log.error("index query failed", extra=kv(error=f"{type(exc).__name__}: {exc}"))
            return error(503, "index_unavailable", "the index cannot be queried now; retry later",
                         {"Retry-After": "5"})
        return web.json_response({"count": len(found), "events": found})
