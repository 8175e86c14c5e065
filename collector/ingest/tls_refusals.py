"""Counting and logging refused TLS handshakes (bad or missing client certificates).

asyncio reports a failed server-side handshake to nobody (an ``OSError`` is only logged in
debug mode), so an agent with a certificate from the wrong CA would be refused silently.
This hooks asyncio's SSL protocol once per process to count each refusal by its OpenSSL
reason and log the peer. If a future Python changes that private method, the hook is
skipped and says so; the refusal itself never depends on it.
"""

from __future__ import annotations

import asyncio.sslproto
import logging
import ssl

from auditseal.logs import kv

log = logging.getLogger("auditseal.collector.tls")


def install(counter) -> bool:
    protocol = asyncio.sslproto.SSLProtocol
    original = getattr(protocol, "_on_handshake_complete", None)
    if original is None or getattr(original, "_auditseal_hook", False):
        if original is None:
            log.warning("cannot observe TLS handshake failures on this Python")
        return False

    def on_handshake_complete(self, handshake_exc):
        if handshake_exc is not None and getattr(self, "_server_side", False):
            exc = handshake_exc if isinstance(handshake_exc, BaseException) else handshake_exc()
            reason = (getattr(exc, "reason", None) or type(exc).__name__).lower()
            counter.labels(reason).inc()
            peer = self._get_extra_info("peername")
            log.warning(
                "TLS handshake refused",
                extra=kv(
                    peer=str(peer[0]) if peer else None,
                    reason=reason,
                    error=getattr(exc, "verify_message", None) or str(exc),
                ),
            )
        return original(self, handshake_exc)

    on_handshake_complete._auditseal_hook = True
    protocol._on_handshake_complete = on_handshake_complete
    return True


__all__ = ["install", "ssl"]
