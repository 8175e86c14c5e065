"""Batches to a collector over HTTPS: the standard library's ``http.client`` on a worker thread.

One request at a time (the shipper waits for each acknowledgement), so one kept-alive
connection per collector is all the agent needs; ``http.client`` does that in a fraction of
the memory of an asynchronous client stack (about 15 MiB less resident). TLS is the
``ssl.SSLContext`` the agent built (client certificate, the collectors' CA, host names
checked).

Errors: a connection that cannot be made or breaks, a timeout, or a reply that is not HTTP
raises ``LinkError`` (the shipper retries it and counts a connection error); any HTTP answer,
whatever its status, is returned for the shipper to classify.
"""

from __future__ import annotations

import http.client
import ssl
from typing import NamedTuple
from urllib.parse import urlsplit


class Answer(NamedTuple):
    status: int
    body: bytes
    retry_after: str | None


class LinkError(Exception):
    """No HTTP answer: unreachable, TLS refused, timed out, or the connection broke."""


class CollectorLink:
    def __init__(self, ssl_context: ssl.SSLContext, timeout: float):
        self.ssl_context = ssl_context
        self.timeout = timeout
        self._connections: dict[tuple[str, str, int], http.client.HTTPConnection] = {}

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """POST ``body`` to ``url`` and read the whole answer (blocking: run it on a thread)."""
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise LinkError(f"not an http(s) URL: {url}")
        key = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        target = parts.path or "/"
        reused = key in self._connections
        try:
            return self._exchange(key, target, body, headers)
        except LinkError:
            if not reused:
                raise
        # The collector closed a kept-alive connection: once more, on a new one.
        return self._exchange(key, target, body, headers)

    def _exchange(self, key: tuple[str, str, int], target: str, body: bytes, headers: dict[str, str]) -> Answer:
        connection = self._connections.get(key) or self._connect(key)
        try:
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._drop(key)
            raise LinkError(str(exc) or type(exc).__name__) from exc
        if response.will_close:
            self._drop(key)
        return Answer(response.status, data, response.getheader("Retry-After"))

    def _connect(self, key: tuple[str, str, int]) -> http.client.HTTPConnection:
        scheme, host, port = key
        if scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=self.timeout, context=self.ssl_context
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
        self._connections[key] = connection
        return connection

    def _drop(self, key: tuple[str, str, int]) -> None:
        connection = self._connections.pop(key, None)
        if connection is not None:
            connection.close()

    def close(self) -> None:
        for key in list(self._connections):
            self._drop(key)
