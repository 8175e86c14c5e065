"""systemd's readiness protocol: with NOTIFY_SOCKET set (Type=notify), each program says
READY=1 once it serves, and STOPPING=1 when it stops; without it, nothing changes."""

import socket
import urllib.request


def test_both_programs_say_ready_and_stopping(pipeline, tmp_path, monkeypatch):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(60)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))  # the programs inherit it, as from systemd
    try:
        pipeline.collector.start()
        assert sock.recv(4096) == b"READY=1"
        # Ready means serving: no waiting needed after the notification.
        with urllib.request.urlopen(pipeline.setup.admin_url + "/healthz", timeout=5) as resp:
            assert resp.status == 200
        pipeline.start_agent()
        assert sock.recv(4096) == b"READY=1"
        assert pipeline.agent_serving()
        pipeline.agent.stop()
        assert sock.recv(4096) == b"STOPPING=1"
        pipeline.collector.stop()
        assert sock.recv(4096) == b"STOPPING=1"
    finally:
        sock.close()
