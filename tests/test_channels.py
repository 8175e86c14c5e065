"""Alert delivery against real HTTP receivers on loopback: each channel retries on its own,
a 4xx is a dead letter, a channel that took an alert never gets it again."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time

import orjson
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook as StandardWebhookVerifier

from collector.alerts import DEAD, DELIVERED, PENDING, Alert, AlertStore
from collector.channels.dispatcher import Dispatcher
from collector.channels.pagerduty import PagerDuty, PagerDutyConfig
from collector.channels.retry import RetryPolicy
from collector.channels.slack import Slack, SlackConfig
from collector.channels.webhook import Webhook, WebhookConfig
from collector.metrics import CollectorMetrics

FAST = RetryPolicy(initial=0.05, maximum=0.2, give_up_after=60.0, max_retry_after=5.0)
SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


class Receiver:
    """A loopback HTTP server answering from a script (then 202), recording every request."""

    def __init__(self, answers: list[int | tuple[int, dict]] | None = None):
        self.answers = list(answers or [])
        self.requests: list[tuple[float, dict, bytes]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((time.monotonic(), dict(request.headers), await request.read()))
        answer = self.answers.pop(0) if self.answers else 202
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        return web.Response(status=status, headers=headers, text="{}")

    async def start(self) -> "Receiver":
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def stop(self) -> None:
        await self.runner.cleanup()


def alert(n: int = 1, tenant: str = "acme") -> Alert:
    return Alert(
        f"{n:032x}",
        "failed-logins-from-one-ip",
        tenant,
        f"2026-12-01T10:0{n % 10}:00.000000Z",
        f"failed-logins-from-one-ip: 5 events within 600s for {tenant}, 10.0.0.{n}",
        {"kind": "threshold", "severity": "high", "group": [f"10.0.0.{n}"], "fired": "2026-12-01T10:10:00.000000Z"},
    )


def webhook(tmp_path, name: str, url: str) -> Webhook:
    secret = tmp_path / f"{name}.secret"
    secret.write_text(SECRET + "\n")
    return Webhook(name, WebhookConfig(type="webhook", url=url, secret_file=secret))


async def deliver_until(dispatcher: Dispatcher, done, timeout: float = 10.0) -> None:
    task = asyncio.create_task(dispatcher.run())
    deadline = time.monotonic() + timeout
    try:
        while not done():
            assert time.monotonic() < deadline, "deliveries did not settle"
            await asyncio.sleep(0.02)
    finally:
        dispatcher.stop()
        await task


def states(store: AlertStore, tenant: str = "acme") -> dict:
    found, _ = store.query(tenant)
    return {a["alert_id"]: {c: d["state"] for c, d in a["deliveries"].items()} for a in found}


def test_500_500_202_is_three_identical_signed_deliveries_with_one_id(tmp_path):
    async def main():
        receiver = await Receiver([500, 500, 202]).start()
        store = AlertStore(tmp_path / "alerts.sqlite")
        store.record(alert(), ("hook",), time.time())
        metrics = CollectorMetrics()
        dispatcher = Dispatcher(store, {"hook": webhook(tmp_path, "hook", receiver.url)}, {"hook": FAST}, metrics)
        await deliver_until(dispatcher, lambda: states(store)[alert().alert_id]["hook"] != PENDING)
        await asyncio.sleep(0.5)  # nothing more comes
        await receiver.stop()
        return receiver, store, metrics

    receiver, store, metrics = asyncio.run(main())
    assert len(receiver.requests) == 3
    bodies = {body for _, _, body in receiver.requests}
    ids = {headers["webhook-id"] for _, headers, _ in receiver.requests}
    assert len(bodies) == 1 and ids == {alert().alert_id}
    verifier = StandardWebhookVerifier(SECRET)
    for _, headers, body in receiver.requests:  # each attempt is signed (its own timestamp)
        assert verifier.verify(body, {k.lower(): v for k, v in headers.items()})["data"]["alert_id"] == alert().alert_id
    payload = orjson.loads(bodies.pop())
    assert payload["type"] == "alert.fired" and payload["data"]["rule"] == "failed-logins-from-one-ip"
    assert states(store) == {alert().alert_id: {"hook": DELIVERED}}
    (row,) = store.query("acme")[0]
    assert row["deliveries"]["hook"]["attempts"] == 3 and row["deliveries"]["hook"]["last_status"] == "202"
    assert metrics.alert_deliveries.labels("hook", "retried")._value.get() == 2
    assert metrics.alert_deliveries.labels("hook", "delivered")._value.get() == 1


def test_a_signature_with_another_secret_is_refused_by_a_standard_verifier(tmp_path):
    hook = webhook(tmp_path, "hook", "http://127.0.0.1:9/")
    request = hook.request(alert().to_json(), time.time())
    other = StandardWebhookVerifier("whsec_" + base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(Exception, match="(?i)signature"):
        other.verify(request.body, request.headers)
    tampered = request.body.replace(b"acme", b"acmf")
    with pytest.raises(Exception, match="(?i)signature"):
        StandardWebhookVerifier(SECRET).verify(tampered, request.headers)


def test_a_400_is_dead_lettered_and_never_retried(tmp_path):
    async def main():
        receiver = await Receiver([400]).start()
        store = AlertStore(tmp_path / "alerts.sqlite")
        store.record(alert(), ("hook",), time.time())
        metrics = CollectorMetrics()
        dispatcher = Dispatcher(store, {"hook": webhook(tmp_path, "hook", receiver.url)}, {"hook": FAST}, metrics)
        await deliver_until(dispatcher, lambda: states(store)[alert().alert_id]["hook"] != PENDING)
        # Many backoff periods later (and a restarted dispatcher), still the one attempt.
        again = Dispatcher(store, {"hook": webhook(tmp_path, "hook", receiver.url)}, {"hook": FAST}, metrics)
        task = asyncio.create_task(again.run())
        await asyncio.sleep(1.0)
        again.stop()
        await task
        await receiver.stop()
        return receiver, store, metrics

    receiver, store, metrics = asyncio.run(main())
    assert len(receiver.requests) == 1
    assert states(store) == {alert().alert_id: {"hook": DEAD}}
    (dead,) = store.dead_letters("acme")
    assert dead["alert_id"] == alert().alert_id and dead["channel"] == "hook" and dead["last_status"] == "400"
    assert "refused; not retried" in dead["last_error"]
    assert metrics.alert_dead_letters.labels("hook")._value.get() == 1


def test_a_failing_channel_never_resends_to_the_channels_that_succeeded(tmp_path):
    async def main():
        ok, flaky, broken = (
            await Receiver().start(),
            await Receiver([503] * 4).start(),
            await Receiver([404, 404]).start(),
        )
        store = AlertStore(tmp_path / "alerts.sqlite")
        names = ("ok", "flaky", "broken")
        for n in (1, 2):
            store.record(alert(n), names, time.time())
        channels = {name: webhook(tmp_path, name, r.url) for name, r in zip(names, (ok, flaky, broken), strict=True)}
        metrics = CollectorMetrics()
        dispatcher = Dispatcher(store, channels, dict.fromkeys(names, FAST), metrics)
        await deliver_until(
            dispatcher, lambda: all(s != PENDING for a in states(store).values() for s in a.values()), 20
        )
        # A restart re-reads the store: what each channel took stays taken.
        again = Dispatcher(store, channels, dict.fromkeys(names, FAST), metrics)
        task = asyncio.create_task(again.run())
        await asyncio.sleep(0.5)
        again.stop()
        await task
        for r in (ok, flaky, broken):
            await r.stop()
        return ok, flaky, broken, store

    ok, flaky, broken, store = asyncio.run(main())
    assert sorted(h["webhook-id"] for _, h, _ in ok.requests) == [alert(1).alert_id, alert(2).alert_id]
    assert len(flaky.requests) == 6  # 4 refusals spread over both alerts, then one success each
    assert sorted({h["webhook-id"] for _, h, _ in flaky.requests}) == [alert(1).alert_id, alert(2).alert_id]
    assert len(broken.requests) == 2  # one 404 each, dead-lettered
    expected = {"ok": DELIVERED, "flaky": DELIVERED, "broken": DEAD}
    assert states(store) == {alert(1).alert_id: expected, alert(2).alert_id: expected}


def test_retry_after_is_waited_for(tmp_path):
    async def main():
        receiver = await Receiver([(429, {"Retry-After": "1"})]).start()
        store = AlertStore(tmp_path / "alerts.sqlite")
        store.record(alert(), ("hook",), time.time())
        dispatcher = Dispatcher(
            store, {"hook": webhook(tmp_path, "hook", receiver.url)}, {"hook": FAST}, CollectorMetrics()
        )
        await deliver_until(dispatcher, lambda: states(store)[alert().alert_id]["hook"] == DELIVERED)
        await receiver.stop()
        return receiver

    receiver = asyncio.run(main())
    (first, _, _), (second, _, _) = receiver.requests
    assert second - first >= 0.95  # not the 0.05 s backoff


def test_no_answer_is_retried_and_the_log_names_no_secret(tmp_path, caplog):
    secret_url = "http://127.0.0.1:9/services/T000/B000/very-secret-token"  # nothing listens on port 9
    url_file = tmp_path / "slack-url"
    url_file.write_text(secret_url)

    async def main():
        store = AlertStore(tmp_path / "alerts.sqlite")
        store.record(alert(), ("slack",), time.time())
        slack = Slack("slack", SlackConfig(type="slack", url_file=url_file))
        dispatcher = Dispatcher(store, {"slack": slack}, {"slack": FAST}, CollectorMetrics())
        task = asyncio.create_task(dispatcher.run())
        await asyncio.sleep(0.6)
        dispatcher.stop()
        await task
        return store

    with caplog.at_level(logging.INFO, logger="auditseal.collector.channels"):
        store = asyncio.run(main())
    (row,) = store.query("acme")[0]
    delivery = row["deliveries"]["slack"]
    assert delivery["state"] == PENDING and delivery["attempts"] >= 2
    assert delivery["last_error"].startswith("cannot connect")
    assert "very-secret-token" not in caplog.text and "very-secret-token" not in orjson.dumps(row).decode()
    assert "alert delivery failed; will retry" in caplog.text


def test_slack_and_pagerduty_requests_as_their_apis_take_them(tmp_path):
    async def main():
        slack_rx, pd_rx = await Receiver().start(), await Receiver([(429, {"Retry-After": "0"}), 202]).start()
        url_file, key_file = tmp_path / "slack-url", tmp_path / "pd-key"
        url_file.write_text(slack_rx.url)
        key_file.write_text("R0UT1NGKEY0123456789abcdef012345\n")
        channels = {
            "slack": Slack("slack", SlackConfig(type="slack", url_file=url_file)),
            "pagerduty": PagerDuty(
                "pagerduty", PagerDutyConfig(type="pagerduty", routing_key_file=key_file, url=pd_rx.url)
            ),
        }
        store = AlertStore(tmp_path / "alerts.sqlite")
        store.record(alert(3), tuple(channels), time.time())
        dispatcher = Dispatcher(store, channels, dict.fromkeys(channels, FAST), CollectorMetrics())
        await deliver_until(dispatcher, lambda: set(states(store)[alert(3).alert_id].values()) == {DELIVERED})
        await slack_rx.stop()
        await pd_rx.stop()
        return slack_rx, pd_rx

    slack_rx, pd_rx = asyncio.run(main())
    ((_, _, slack_body),) = slack_rx.requests
    message = orjson.loads(slack_body)
    assert "failed-logins-from-one-ip" in message["text"] and "[high]" in message["text"]
    assert alert(3).alert_id in orjson.dumps(message["blocks"]).decode()
    assert len(pd_rx.requests) == 2 and pd_rx.requests[0][2] == pd_rx.requests[1][2]
    event = orjson.loads(pd_rx.requests[0][2])
    assert event["event_action"] == "trigger" and event["dedup_key"] == alert(3).alert_id
    assert event["routing_key"] == "R0UT1NGKEY0123456789abcdef012345"
    assert event["payload"]["severity"] == "error" and event["payload"]["source"] == "auditseal/acme"
    assert event["payload"]["summary"] == alert(3).summary
