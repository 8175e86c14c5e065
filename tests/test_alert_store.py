"""The alert store and its admin API: filters, pages by cursor, deliveries, dead letters."""

from __future__ import annotations

import asyncio
import hashlib
import time

import orjson
from aiohttp import ClientSession, web

from collector.admin.api import Admin
from collector.admin.auth import Authenticator
from collector.admin.ratelimit import RateLimits
from collector.admin.trail import AdminTrail
from collector.alerts import DEAD, Alert, AlertStore
from collector.metrics import CollectorMetrics

TOKEN = "test-token-with-enough-entropy"


def alert(n: int, tenant: str = "acme", rule: str = "failed-logins", severity: str = "high") -> Alert:
    return Alert(f"{n:032x}", rule, tenant, f"2026-12-01T10:{n:02d}:00.000000Z", f"alert {n}", {"severity": severity})


def filled(tmp_path) -> AlertStore:
    store = AlertStore(tmp_path / "alerts.sqlite")
    for n in range(25):
        store.record(alert(n, severity="critical" if n % 5 == 0 else "high"), ("hook", "pager"), time.time())
    store.record(alert(50, tenant="globex"), ("hook",), time.time())
    store.record(alert(51, rule="integrity-failure"), ("hook",), time.time())
    return store


def test_an_alert_is_stored_once_and_numbered_once_for_its_audit_event(tmp_path):
    store = AlertStore(tmp_path / "alerts.sqlite")
    assert store.record(alert(1), ("hook",), 0.0) is True
    assert store.record(alert(1), ("hook", "pager"), 0.0) is False  # a replay adds nothing
    assert [seq for seq, _ in store.unjournaled(0)] == [1]
    assert store.unjournaled(1) == []
    found, _ = store.query("acme")
    assert list(found[0]["deliveries"]) == ["hook"]


def test_pages_by_cursor_cover_every_alert_once_newest_first(tmp_path):
    store = filled(tmp_path)
    seen, cursor = [], None
    while True:
        page, cursor = store.query("acme", limit=7, rule="failed-logins", cursor=cursor)
        seen.extend(a["alert_id"] for a in page)
        if cursor is None:
            break
    assert seen == [f"{n:032x}" for n in reversed(range(25))]


def test_filters_by_rule_severity_and_time(tmp_path):
    store = filled(tmp_path)
    assert {a["alert_id"] for a in store.query("acme", severity="critical")[0]} == {
        f"{n:032x}" for n in range(0, 25, 5)
    }
    assert [a["rule"] for a in store.query("acme", rule="integrity-failure")[0]] == ["integrity-failure"]
    window = store.query("acme", since="2026-12-01T10:10:00.000000Z", until="2026-12-01T10:12:00.000000Z")[0]
    assert [a["alert_id"] for a in window] == [f"{n:032x}" for n in (12, 11, 10)]
    assert [a["tenant"] for a in store.query("globex")[0]] == ["globex"]


def test_the_admin_api_serves_alerts_pages_and_dead_letters_and_refuses_bad_queries(tmp_path):
    store = filled(tmp_path)
    store.mark(f"{3:032x}", "pager", DEAD, 1, 0.0, "400", "HTTP 400: refused; not retried", time.time())

    class OwnStream:
        """Where the admin trail journals its records (the collector's own stream): kept here."""

        agent = "collector.test"

        def __init__(self):
            self.docs = []

        async def append(self, items, now):
            self.docs.extend(make(len(self.docs) + 1) for _, make in items)

    trail = OwnStream()

    async def main():
        metrics = CollectorMetrics()
        auth = Authenticator([hashlib.sha256(TOKEN.encode()).hexdigest()], None, None, RateLimits(100, 100), metrics)
        admin = Admin(auth, AdminTrail(trail, "auditseal"), None, metrics, None, alerts=store)
        runner = web.AppRunner(admin.app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        out = {}
        async with ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:

            async def get(path):
                async with http.get(base + path) as resp:
                    return resp.status, orjson.loads(await resp.read())

            out["page1"] = await get("/v1/alerts?tenant=acme&limit=10")
            out["page2"] = await get(f"/v1/alerts?tenant=acme&limit=10&cursor={out['page1'][1]['next_cursor']}")
            out["dead"] = await get("/v1/alerts/dead-letters?tenant=acme")
            out["dead_globex"] = await get("/v1/alerts/dead-letters?tenant=globex")
            for name, query in {
                "no_tenant": "",
                "bad_limit": "tenant=acme&limit=0",
                "bad_severity": "tenant=acme&severity=urgent",
                "bad_since": "tenant=acme&since=yesterday",
                "bad_cursor": "tenant=acme&cursor=%%%%",
                "unknown": "tenant=acme&colour=red",
            }.items():
                out[name] = await get(f"/v1/alerts?{query}")
        async with ClientSession() as anonymous, anonymous.get(base + "/v1/alerts?tenant=acme") as resp:
            out["anonymous"] = resp.status
        await runner.cleanup()
        return out

    out = asyncio.run(main())
    status, page1 = out["page1"]
    assert status == 200 and page1["count"] == 10 and page1["next_cursor"]
    assert page1["alerts"][0]["alert_id"] == f"{51:032x}"  # newest first
    assert set(page1["alerts"][0]["deliveries"]) == {"hook"}
    _, page2 = out["page2"]
    assert not {a["alert_id"] for a in page1["alerts"]} & {a["alert_id"] for a in page2["alerts"]}
    status, dead = out["dead"]
    assert status == 200 and [(d["alert_id"], d["channel"], d["last_status"]) for d in dead["dead_letters"]] == [
        (f"{3:032x}", "pager", "400")
    ]
    assert out["dead_globex"][1]["dead_letters"] == []
    for name in ("no_tenant", "bad_limit", "bad_severity", "bad_since", "bad_cursor", "unknown"):
        status, body = out[name]
        assert status == 400 and body["reason"] == "bad_query", (name, body)
    assert out["anonymous"] == 401
    # Every authenticated call was recorded, in the tenant it read or (refused) the audit tenant.
    recorded = [(d["organization"]["id"], d["http"]["response"]["status_code"]) for d in trail.docs]
    assert recorded[:4] == [("acme", 200), ("acme", 200), ("acme", 200), ("globex", 200)]
    assert len(recorded) == 10 and recorded[4] == ("auditseal", 400)
