"""End to end on a `make run` deployment: failed logins appended to a watched file fire the
default pack's "5 failed logins in 10 minutes from one IP" once, at a loopback webhook
receiver that checks the Standard Webhooks signature; the alert is queryable."""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhookVerifier

from tests.harness import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]


class SigningReceiver:
    """Answers 204 to a delivery whose signature verifies, 401 otherwise (and records both)."""

    def __init__(self, secret: str):
        verifier = StandardWebhookVerifier(secret)
        self.accepted: list[tuple[dict, dict]] = []
        self.refused: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    payload = verifier.verify(body, headers)
                except Exception as exc:
                    outer.refused.append(f"{type(exc).__name__}: {exc}")
                    self.send_response(401)
                else:
                    outer.accepted.append((headers, payload))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def fired(self, rule: str) -> list[dict]:
        return [p["data"] for _, p in self.accepted if p["data"]["rule"] == rule]


def failed_login(ip: str, user: str, when: dt.datetime, n: int) -> bytes:
    return orjson.dumps(
        {
            "@timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "event": {"action": "user_login", "category": ["authentication"], "outcome": "failure"},
            "user": {"name": user},
            "source": {"ip": ip},
            "message": f"login failed for {user}",
            "labels": {"n": n},
        }
    )


@pytest.mark.timeout(300)
def test_five_failed_logins_from_one_ip_alert_once_at_a_signature_checking_webhook(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    (run_dir / "webhook-secret").write_text(secret + "\n")  # `make run` keeps a secret it finds
    receiver = SigningReceiver(secret)
    admin_port = free_port()
    make = [
        "make",
        "-C",
        str(REPO),
        f"RUN_DIR={run_dir}",
        f"BIN={Path(sys.executable).parent}",
        f"INGEST_PORT={free_port()}",
        f"ADMIN_PORT={admin_port}",
        f"WEBHOOK_URL={receiver.url}",
    ]
    try:
        started = subprocess.run([*make, "run"], capture_output=True, text=True, timeout=180)
        assert started.returncode == 0, started.stdout + started.stderr
        now = dt.datetime.now(dt.timezone.utc)
        lines = [failed_login("203.0.113.7", "alice", now + dt.timedelta(seconds=10 * i), i) for i in range(10)]
        lines += [failed_login("198.51.100.4", "bob", now + dt.timedelta(seconds=i), 100 + i) for i in range(4)]
        with open(run_dir / "logs" / "app-audit.jsonl", "ab") as f:
            f.write(b"".join(line + b"\n" for line in lines))

        rule = "failed-logins-from-one-ip"
        (delivered,) = wait_for(lambda: receiver.fired(rule), 60, "the alert at the webhook")
        time.sleep(3)  # failures 6-10 would fire again: the 30 min throttle holds them
        assert receiver.fired(rule) == [delivered]
        assert receiver.refused == []
        assert delivered["tenant"] == "acme" and delivered["details"]["group"] == ["203.0.113.7"]
        assert len(delivered["details"]["events"]) == 5
        headers = next(h for h, p in receiver.accepted if p["data"]["rule"] == rule)
        assert headers["webhook-id"] == delivered["alert_id"]

        token = (run_dir / "admin-token").read_text().strip()
        request = urllib.request.Request(
            f"http://127.0.0.1:{admin_port}/v1/alerts?tenant=acme&rule={rule}",
            headers={"Authorization": f"Bearer {token}"},
        )

        def queried():
            with urllib.request.urlopen(request, timeout=10) as resp:
                found = orjson.loads(resp.read())["alerts"]
            return found if found and found[0]["deliveries"]["webhook"]["state"] == "delivered" else None

        (stored,) = wait_for(queried, 20, "the alert delivered in the admin API")
        assert stored["alert_id"] == delivered["alert_id"] and stored["details"]["severity"] == "high"
        assert stored["deliveries"]["webhook"]["attempts"] == 1
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10).read().decode()
        assert f'auditseal_collector_alerts_fired_total{{rule="{rule}"}} 1.0' in metrics
        assert f'auditseal_collector_alerts_suppressed_total{{rule="{rule}"}} 1.0' in metrics
        assert 'auditseal_collector_alert_deliveries_total{channel="webhook",outcome="delivered"}' in metrics
    finally:
        subprocess.run([*make, "stop"], capture_output=True, timeout=60)
        receiver.server.shutdown()
    log = (run_dir / "collector.log").read_text()
    assert "Traceback" not in log, log[-3000:]
    assert secret not in log and secret.removeprefix("whsec_") not in log
