"""``/metrics`` (Prometheus text, written by prometheus_client) and ``/healthz`` on the
agent's ``metrics_listen``, served by the standard library's WSGI server on a thread of its
own: a scrape never waits for the pipeline, and the agent carries no web framework.

``/healthz`` is liveness for container HEALTHCHECKs and load balancers: 200 while the event
loop beats (``Heartbeat``, every second), 503 once it has missed ``STALL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

STALL_SECONDS = 10.0


class Heartbeat:
    def __init__(self) -> None:
        self.last = time.monotonic()

    async def run(self) -> None:
        while True:
            self.last = time.monotonic()
            await asyncio.sleep(1.0)

    def alive(self) -> bool:
        return time.monotonic() - self.last < STALL_SECONDS


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002  (the stdlib's signature)
        pass  # scrapes are not the agent's log


class MetricsServer:
    def __init__(self, listen: str, registry, heartbeat: Heartbeat):
        host, _, port = listen.rpartition(":")
        host = (host or "127.0.0.1").strip("[]")
        metrics = make_wsgi_app(registry)

        def app(environ, start_response):
            if environ.get("PATH_INFO") == "/healthz":
                ok = heartbeat.alive()
                start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")])
                return [b'{"status":"ok"}' if ok else b'{"status":"event loop stalled"}']
            return metrics(environ, start_response)

        family = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)[0][0]
        server_class = type("Server", (ThreadingWSGIServer,), {"address_family": family})
        self._server = make_server(host, int(port), app, server_class, handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
