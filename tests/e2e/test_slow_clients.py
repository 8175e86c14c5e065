"""Slow and vanishing clients on the ingest port are cut after their bounds and counted,
while a real agent is served all along."""

import socket
import ssl
import threading
import time

import pytest

from auditseal.formats import wire
from tests.e2e.test_bad_input import AGENT, agent_tls, hmac_key
from tests.harness import Pipeline, wait_for

HEADER_TIMEOUT, BODY_TIMEOUT = 2.0, 2.0


def connect(pipe: Pipeline) -> ssl.SSLSocket:
    host, port = pipe.setup.ingest_url.removeprefix("https://").split(":")
    raw = socket.create_connection((host, int(port)), timeout=30)
    return agent_tls(pipe).wrap_socket(raw, server_hostname=host)


def closed_after(sock: ssl.SSLSocket, feed: bytes, per_byte: float, limit: float) -> float:
    """Feed bytes one at a time until the server closes the connection; seconds it took."""
    started = time.monotonic()
    try:
        for byte in feed:
            sock.sendall(bytes([byte]))
            time.sleep(per_byte)
            if time.monotonic() - started > limit:
                return float("inf")
        sock.settimeout(limit)
        while sock.recv(4096):
            pass
    except (OSError, ssl.SSLError):
        pass
    return time.monotonic() - started


def signed_headers(pipe: Pipeline) -> bytes:
    """A real agent's request headers for a 5,000-byte body (that then never comes whole)."""
    key_id, key = hmac_key(pipe)
    headers = wire.build_headers(
        agent=AGENT, key_id=key_id, key=key, timestamp=int(time.time()), first_seq=1, last_seq=1, body=b"x" * 5000
    )
    lines = [
        f"POST {wire.PATH} HTTP/1.1",
        "Host: collector",
        "Content-Length: 5000",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def cut(pipe: Pipeline, reason: str) -> float:
    return pipe.collector_metrics().get(f'auditseal_collector_ingest_connections_cut_total{{reason="{reason}"}}', 0)


@pytest.mark.timeout(180)
def test_slow_clients_are_cut_and_counted_while_agents_are_served(tmp_path):
    pipe = Pipeline(
        tmp_path / "pipe",
        collector_overrides={
            "ingest": {"header_timeout": HEADER_TIMEOUT, "body_timeout": BODY_TIMEOUT, "keepalive_timeout": 3}
        },
    )
    try:
        pipe.start_collector()
        pipe.start_agent()
        writer = pipe.write_events_in_background(0, 2000, 100, 0.1)  # a good agent, meanwhile
        results = {}

        def dribble_headers():  # headers at one byte a second
            results["headers"] = closed_after(connect(pipe), b"POST /v1/batches HTTP/1.1\r\nHost: x\r\n" * 4, 1.0, 30)

        def never_send_body():
            sock = connect(pipe)
            sock.sendall(signed_headers(pipe))
            results["body"] = closed_after(sock, b"", 0, 30)

        def hang_up_mid_body():
            sock = connect(pipe)
            sock.sendall(signed_headers(pipe) + b"x" * 100)
            time.sleep(0.3)
            sock.close()

        threads = [threading.Thread(target=t) for t in (dribble_headers, never_send_body, hang_up_mid_body)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert HEADER_TIMEOUT - 0.5 <= results["headers"] <= HEADER_TIMEOUT + 3, results
        assert BODY_TIMEOUT - 0.5 <= results["body"] <= BODY_TIMEOUT + 3, results
        wait_for(lambda: cut(pipe, "client_disconnected") == 1, 10, "the hang-up counted")
        assert cut(pipe, "header_timeout") == 1 and cut(pipe, "body_timeout") == 1
        writer.join()
        pipe.wait_indexed(2000, timeout=60)
        assert pipe.collector.alive()
        output = pipe.collector.output()
        assert "journal write failed" not in output and "journal_unavailable" not in output
        metrics = pipe.collector_metrics()
        # Every refusal's series exists from the start (at 0): none for the journal moved.
        assert all(
            v == 0 for k, v in metrics.items() if k.startswith("auditseal_collector_rejects_total") and "journal" in k
        )
    finally:
        pipe.stop()
