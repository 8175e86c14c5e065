"""The mTLS ingest endpoint: a thin shell around ``accept``. It reads and verifies the
request (certificate, headers, size, signature, body), asks ``accept`` what to journal and
answer, appends, and answers; refusals are answered from one table (``answers``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError

from auditseal.errors import Halt, Rejected
from auditseal.formats import wire
from auditseal.formats.event import utc_now_iso
from auditseal.logs import kv
from auditseal.tls import identity_from_der

from .. import config as collector_config
from ..journal import Journal, MarkMoved
from ..journal.own_stream import OwnStream
from ..metrics import CollectorMetrics
from .admit import admit
from .accept import accept
from .answers import headers_of, status_of
from .guard import HeaderDeadline

log = logging.getLogger("auditseal.collector.server")
MARK_RETRIES = 8
# How often a batch waiting for the one it follows reads a shared journal's mark again.
FOLLOWS_POLL = 0.1


def error(status: int, reason: str, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"error": message, "reason": reason}, status=status, headers=headers)


def refusal(reason: str, message: str) -> web.Response:
    return error(status_of(reason), reason, message, headers_of(reason))


class Ingest:
    def __init__(
        self,
        journal: Journal,
        hmac_keys: dict[str, dict[str, bytes]],
        limits: wire.Limits,
        metrics: CollectorMetrics,
        own: OwnStream,
        body_timeout: float = 30.0,
        follows_wait: float = 5.0,
    ):
        self.body_timeout = body_timeout
        self.follows_wait = follows_wait
        self.deadline = None  # ingest_guard.HeaderDeadline, set by the site that serves this
        self.journal = journal
        self.own = own
        self._keys = hmac_keys
        self.limits = limits
        self.metrics = metrics
        self._agent_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._stored: dict[str, asyncio.Event] = {}  # set when the agent's next batch is stored here

    def replace_keys(self, hmac_keys: dict[str, dict[str, bytes]]) -> None:
        """New agents' keys (SIGHUP): requests from here on are checked against them."""
        self._keys = hmac_keys

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.limits.max_body_bytes)
        app.router.add_post(wire.PATH, self.handle_batch)
        app.router.add_post(wire.TEST_PATH, self.handle_test)
        return app

    async def handle_test(self, request: web.Request) -> web.Response:
        """``auditseal-agent test output``: every check a batch passes (certificate, key, MAC,
        clock, limits, each event's tenant and shape), nothing journaled, a precise refusal."""
        try:
            identity, header, body = await self._authenticate(request, wire.TEST_PATH)
            lines, events = wire.split_events(wire.decompress(body, self.limits), self.limits)
            _, refused = admit(identity, header, lines, events, utc_now_iso(), self.limits.max_event_bytes)
            if refused:
                raise Rejected(refused[0].reason, refused[0].message)
        except Rejected as exc:
            self.metrics.rejects.labels(exc.reason).inc()
            log.warning("output test refused", extra=kv(reason=exc.reason, error=str(exc), peer=request.remote))
            return refusal(exc.reason, str(exc))
        except ClientGone as gone:
            return refusal(gone.reason, "request body not received")
        tenants = sorted({str(e.get("organization", {}).get("id")) for e in events if isinstance(e, dict)})
        log.info("output test passed", extra=kv(agent=identity.agent_id, tenants=",".join(tenants)))
        return web.json_response({"ok": True, "agent": identity.agent_id, "key_id": header.key_id, "tenants": tenants})

    async def handle_batch(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        if self.deadline is not None:
            self.deadline.started(request)
        try:
            if self.journal.full():
                # Sinks are far behind (index or archive down): agents keep events in their
                # spools until the journal drains, rather than the collector's disk filling.
                raise Rejected("journal_full", "journal bound reached; sinks are catching up")
            response = await self._handle(request)
        except Rejected as exc:
            self.metrics.rejects.labels(exc.reason).inc()
            # A batch that overtook the one it follows is routine with pipelining: resent.
            log.log(
                logging.DEBUG if exc.reason == "too_early" else logging.WARNING,
                "batch refused",
                extra=kv(status=status_of(exc.reason), reason=exc.reason, error=str(exc), peer=request.remote),
            )
            response = refusal(exc.reason, str(exc))
        except ClientGone as gone:  # nothing to answer: the client is not there to read it
            self.metrics.slow_clients.labels(gone.reason).inc()
            log.warning(
                "ingest client cut or gone before its body arrived", extra=kv(reason=gone.reason, peer=request.remote)
            )
            if request.transport is not None:
                request.transport.abort()
            response = refusal(gone.reason, "request body not received")
        except OSError as exc:  # journal cannot be written: the agent keeps the batch and retries
            self.metrics.rejects.labels("journal_unavailable").inc()
            log.error("journal write failed", extra=kv(error=str(exc)))
            response = refusal("journal_unavailable", "journal unavailable")
        if response.status >= 400 and not request.get("body_read"):
            response.force_close()  # refused before its body was read: no lingering for it
        self.metrics.batches.labels(str(response.status)).inc()
        self.metrics.ack_seconds.observe(time.perf_counter() - started)
        return response

    async def _handle(self, request: web.Request) -> web.Response:
        identity, header, body = await self._authenticate(request, wire.PATH)
        if header.follows is not None:  # before decoding: only the compressed body is held
            await self._predecessor_stored(header)
        lines, events = wire.split_events(wire.decompress(body, self.limits), self.limits)
        ingested = utc_now_iso()
        marks = self.journal.marks

        def decide():
            return accept(
                identity,
                header,
                lines,
                events,
                marks.acked(header.agent),
                self.own.agent,
                marks.acked(self.own.agent),
                ingested,
                self.limits.max_event_bytes,
            )

        # One request per agent at a time from here: a retry racing its original must see
        # the original's sequences as stored. A shared journal checks the mark itself
        # (``MarkMoved``: another collector stored some of these meanwhile; decide again).
        async with self._agent_locks[header.agent]:
            for _ in range(MARK_RETRIES):
                await self.journal.refresh(header.agent)
                acceptance = decide()
                try:
                    if acceptance.holes:  # gap events number the own stream: hold it from numbering to append
                        async with self.own.lock:
                            # A hole by a shared journal's remembered mark may be events another
                            # collector stored since: read the mark again before recording one.
                            await self.journal.refresh(header.agent, latest=True)
                            await self.journal.refresh(self.own.agent)
                            acceptance = decide()
                            await self.journal.append(acceptance.writes)
                    elif acceptance.writes:
                        await self.journal.append(acceptance.writes)
                    break
                except MarkMoved:
                    continue
            else:
                raise Rejected("journal_unavailable", "agent's mark kept moving; retry")
            waiting = self._stored.pop(header.agent, None) if acceptance.writes else None
            if waiting is not None:  # batches sent behind this one: their turn
                waiting.set()
        for hole in acceptance.holes:
            kind = "declared" if hole.declared else "undeclared"
            self.metrics.gaps.labels(kind).inc(hole.last - hole.first + 1)
            log.error(
                "sequence gap in an agent's stream",
                extra=kv(agent=header.agent, first=hole.first, last=hole.last, declared=hole.declared),
            )
        for r in acceptance.told:
            self.metrics.event_rejects.labels(r.reason).inc()
            log.warning(
                "event refused; an event_rejected record takes its place",
                extra=kv(agent=header.agent, seq=r.seq, reason=r.reason, error=r.message),
            )
        self.metrics.events.inc(acceptance.accepted)
        self.metrics.duplicates.inc(acceptance.duplicates)
        return web.json_response(acceptance.answer())

    async def _predecessor_stored(self, header: wire.BatchHeader) -> None:
        """Wait, up to ``follows_wait``, until the agent's events through ``header.follows``
        are stored (here, or by another collector of a shared journal): a batch that overtook
        the one it follows on another connection is then stored after it, not refused.
        ``accept`` refuses it, under the agent's lock, if the wait runs out."""
        deadline = time.monotonic() + self.follows_wait
        latest = waited = False
        while True:
            await self.journal.refresh(header.agent, latest=latest)
            remaining = deadline - time.monotonic()
            if self.journal.marks.acked(header.agent) >= (header.follows or 0) or remaining <= 0:
                return
            if not waited:
                self.metrics.held.inc()
                waited = True
            stored = self._stored.setdefault(header.agent, asyncio.Event())
            try:
                await asyncio.wait_for(stored.wait(), min(remaining, FOLLOWS_POLL))
            except asyncio.TimeoutError:
                latest = True  # not stored here meanwhile: perhaps by another collector

    async def _authenticate(self, request: web.Request, path: str):
        """The sender's identity, the batch header and the body, once the certificate, key,
        clock, size and MAC are right; ``Rejected`` with the reason otherwise."""
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        identity = identity_from_der(der) if der else None
        if identity is None:
            raise Rejected("bad_certificate", "client certificate names no agent")
        header = wire.parse_headers(request.headers)
        if header.agent != identity.agent_id:
            raise Rejected("agent_mismatch", f"{wire.H_AGENT} is not the certificate's agent")
        if request.content_length is None:
            raise Rejected("length_required", "Content-Length is required")
        if request.content_length > self.limits.max_body_bytes:
            raise Rejected("body_too_large", f"body of {request.content_length} bytes > {self.limits.max_body_bytes}")
        wire.check_skew(header, time.time(), self.limits)
        key = self._keys.get(header.agent, {}).get(header.key_id)
        if key is None:
            raise Rejected("unknown_key", f"unknown key id {header.key_id!r} for this agent")
        body = await self._read_body(request)
        self.metrics.bytes.inc(len(body))
        wire.verify_signature(key, header, body, path)
        return identity, header, body

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


class IngestSite:
    """The mTLS ingest port, with bounds on slow clients (``guard``)."""

    def __init__(self, ingest: Ingest, cfg, ssl_context):
        self.ingest, self.cfg, self.ssl_context = ingest, cfg, ssl_context
        self.runner = web.AppRunner(ingest.app(), access_log=None, keepalive_timeout=cfg.keepalive_timeout)
        self.server = None

    async def start(self) -> "IngestSite":
        await self.runner.setup()
        self.ingest.deadline = HeaderDeadline(
            self.runner.server,
            self.cfg.header_timeout,
            lambda reason: self.ingest.metrics.slow_clients.labels(reason).inc(),
        )
        host, port = collector_config.split_listen(self.cfg.listen)
        try:
            self.server = await asyncio.get_running_loop().create_server(
                self.ingest.deadline,
                host,
                port,
                ssl=self.ssl_context,
                backlog=512,
                ssl_handshake_timeout=self.cfg.tls_handshake_timeout,
            )
        except OSError as exc:
            raise Halt(f"cannot listen on {self.cfg.listen}: {exc.strerror}") from None
        return self

    async def cleanup(self) -> None:
        if self.server is not None:
            self.server.close()
        await self.runner.cleanup()
