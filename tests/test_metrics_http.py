"""The agent's /metrics and /healthz (agent/metrics_http.py), over a real socket."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from agent import metrics_http
from agent.metrics_http import Heartbeat, MetricsServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_metrics_and_liveness_are_served_and_a_stalled_loop_is_reported(monkeypatch):
    registry = CollectorRegistry()
    Counter("auditseal_agent_test_events", "events", registry=registry).inc(3)
    beat = Heartbeat()
    port = free_port()
    server = MetricsServer(f"127.0.0.1:{port}", registry, beat)
    server.start()
    try:
        status, body = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and b"auditseal_agent_test_events_total 3.0" in body
        assert get(f"http://127.0.0.1:{port}/healthz") == (200, b'{"status":"ok"}')
        monkeypatch.setattr(metrics_http, "STALL_SECONDS", 0.0)  # the loop has not beaten since
        assert get(f"http://127.0.0.1:{port}/healthz") == (503, b'{"status":"event loop stalled"}')
    finally:
        server.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_a_port_in_use_is_an_os_error_the_agent_reports():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        with pytest.raises(OSError):
            MetricsServer(f"127.0.0.1:{held.getsockname()[1]}", CollectorRegistry(), Heartbeat())
