"""The agent's HTTPS link to a collector (agent/transport.py), against a real TLS server."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.transport import CollectorLink, LinkError
from auditseal import tls
from auditseal.dev import pki


class Collector(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real collector
    answers: list = []
    seen: list = []

    def do_POST(self):  # noqa: N802  (the stdlib's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.path, self.headers["X-Test"], body, self.client_address[1]))
        status, retry_after, close = self.answers.pop(0) if self.answers else (200, None, False)
        self.send_response(status)
        if retry_after:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
        if close:  # drop the kept-alive connection without saying so, as a restarted peer does
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def collector(tmp_path):
    pki.init_ca(tmp_path)
    server_paths = pki.issue_collector(tmp_path, "local", ["127.0.0.1"])
    agent_paths = pki.issue_agent(tmp_path, "web-1", ["acme"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    context = tls.server_context(str(server_paths["cert"]), str(server_paths["key"]), str(tmp_path / "ca.crt"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Collector.answers, Collector.seen = [], []
    client = tls.client_context(str(agent_paths["cert"]), str(agent_paths["key"]), str(tmp_path / "ca.crt"))
    yield f"https://127.0.0.1:{server.server_address[1]}", client
    server.shutdown()
    server.server_close()


def test_answers_of_any_status_come_back_whole_over_one_kept_alive_connection(collector):
    url, context = collector
    link = CollectorLink(context, timeout=5)
    Collector.answers = [(200, None, False), (503, "7", False), (400, None, False)]
    answers = [link.post(url + "/v1/batch", f"body {i}".encode(), {"X-Test": str(i)}) for i in range(3)]
    assert [(a.status, a.body, a.retry_after) for a in answers] == [
        (200, b"ok", None),
        (503, b"ok", "7"),
        (400, b"ok", None),
    ]
    assert [(path, test, body) for path, test, body, _ in Collector.seen] == [
        ("/v1/batch", str(i), f"body {i}".encode()) for i in range(3)
    ]
    assert len({port for *_, port in Collector.seen}) == 1, "one connection, kept alive"
    link.close()


def test_a_kept_alive_connection_the_collector_dropped_is_replaced_once_without_a_failure(collector):
    url, context = collector
    link = CollectorLink(context, timeout=5)
    Collector.answers = [(200, None, True), (200, None, False)]
    assert link.post(url + "/v1/batch", b"a", {"X-Test": "1"}).status == 200
    assert link.post(url + "/v1/batch", b"b", {"X-Test": "2"}).status == 200
    assert [body for _, _, body, _ in Collector.seen] == [b"a", b"b"]
    assert len({port for *_, port in Collector.seen}) == 2, "a new connection for the second batch"


def test_no_answer_is_a_link_error_naming_why(collector, tmp_path):
    url, context = collector
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    link = CollectorLink(context, timeout=2)
    with pytest.raises(LinkError, match="refused"):
        link.post(f"https://127.0.0.1:{closed_port}/v1/batch", b"x", {"X-Test": "0"})
    other = tmp_path / "other"
    pki.init_ca(other)
    stranger = pki.issue_agent(other, "web-1", ["acme"])
    untrusting = tls.client_context(str(stranger["cert"]), str(stranger["key"]), str(other / "ca.crt"))
    with pytest.raises(LinkError, match="CERTIFICATE_VERIFY_FAILED"):
        CollectorLink(untrusting, timeout=2).post(url + "/v1/batch", b"x", {"X-Test": "0"})
    with pytest.raises(LinkError, match="not an http"):
        link.post("ftp://127.0.0.1/x", b"x", {})
