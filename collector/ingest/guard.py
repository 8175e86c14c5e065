"""Slow clients on the ingest port: cut after a bound, counted by reason.

aiohttp has no read timeout for a request's headers, so a client that completes TLS and
then sends headers at one byte a second (or nothing) would hold a socket forever. Each
connection gets a deadline when it is made (after the TLS handshake, which has its own
bound): unless a request has begun on it by then, it is closed and counted as
``header_timeout``. Between requests on a kept-alive connection aiohttp's keep-alive
timeout closes an idle or dribbling connection. Body reads have their own bound in the
handler (``body_timeout``).
"""

from __future__ import annotations

import asyncio
import weakref

from aiohttp import web


class HeaderDeadline:
    """Wraps aiohttp's protocol factory; ``started(request)`` marks a connection as served."""

    def __init__(self, server: web.Server, seconds: float, on_cut):
        self.server = server
        self.seconds = seconds
        self.on_cut = on_cut  # (reason) -> None
        self._served: weakref.WeakSet = weakref.WeakSet()

    def started(self, request: web.Request) -> None:
        if request.transport is not None:
            self._served.add(request.transport)

    def __call__(self) -> asyncio.Protocol:
        return _Watched(self.server(), self)

    def _check(self, transport) -> None:
        if transport.is_closing() or transport in self._served:
            return
        self.on_cut("header_timeout")
        transport.abort()


class _Watched(asyncio.Protocol):
    """aiohttp's protocol, unchanged, with the deadline armed when the connection is made
    (its handler class has slots: it is wrapped, not patched)."""

    def __init__(self, inner: asyncio.Protocol, guard: HeaderDeadline):
        self.inner, self.guard = inner, guard

    def connection_made(self, transport) -> None:
        self.inner.connection_made(transport)
        asyncio.get_running_loop().call_later(self.guard.seconds, self.guard._check, transport)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self):
        return self.inner.eof_received()

    def connection_lost(self, exc) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()
