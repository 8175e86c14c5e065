"""The web UI at /ui in headless Chromium (Debian's, driven by Playwright): an auditor signs in
with a token, searches for one user's failed logins in a time range, pages, opens an event
and sees its inclusion proof checked in the browser against the signed checkpoint, then looks
at agents and checkpoints. Screenshots land in ``test-artifacts/`` (``AUDITSEAL_ARTIFACTS``)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import orjson
import pytest

from tests.e2e.test_admin_api import call, make_token
from tests.harness import Pipeline, wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("AUDITSEAL_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
DAY = dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc)


def line(n: int, user: str, outcome: str, hour: float) -> bytes:
    when = DAY + dt.timedelta(hours=hour)
    return orjson.dumps(
        {
            "@timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "event": {"action": "user_login", "category": ["authentication"], "outcome": outcome},
            "user": {"name": user},
            "source": {"ip": f"203.0.113.{n % 200 + 1}"},
            "host": {"name": "bastion"},
            "message": f"{'Failed' if outcome == 'failure' else 'Accepted'} password for {user} <script>alert(1)</script>",
        }
    )


def test_an_auditor_finds_failed_logins_of_one_user_and_checks_an_event(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline(tmp_path, collector_overrides={"archive": {"segment_max_age": 0.5, "checkpoint_interval": 1.0}})
    lines, expected = [], []  # 60 matches: more than one page of 50
    for n in range(720):
        user, outcome, hour = ["bob", "alice", "carol"][n % 3], ["failure", "success"][n % 2], (n * 0.1) % 24
        lines.append(line(n, user, outcome, hour))
        if user == "bob" and outcome == "failure" and 9 <= hour < 21:
            expected.append(n)
    try:
        pipeline.start_collector()
        pipeline.start_agent()
        pipeline.watched.write_bytes(b"\n".join(lines) + b"\n")
        pipeline.wait_indexed(720)
        token, _ = make_token(pipeline, "tenant-auditor:acme")
        # Sealed before the browser asks for proofs.
        docs = [d for d in pipeline.index_docs() if d["event"]["action"] == "user_login"]
        wait_for(lambda: call(pipeline, "/v1/proof", token, event_id=docs[-1]["event"]["id"])[0] == 200, 60, "sealed")
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))  # an injected alert()
            page.goto(f"{pipeline.setup.admin_url}/ui")
            page.fill("#token", "wrong")
            page.get_by_role("button", name="Sign in").click()
            expect(page.locator("#sign-in-error")).to_contain_text("401")
            page.fill("#token", token)
            page.click("button[type=submit]")
            expect(page.locator("#who")).to_contain_text("tenant-auditor:acme")
            expect(page.locator("#tenant")).to_have_value("acme")

            page.fill("input[name=user]", "bob")
            page.fill("input[name=action]", "user_login")
            page.select_option("select[name=outcome]", "failure")
            page.fill("input[name=since]", "2026-11-30T09:00:00")
            page.fill("input[name=until]", "2026-11-30T21:00:00")
            page.click("#search")
            expect(page.locator("#search-status")).to_contain_text(f"of {len(expected)} matching events")
            rows = page.locator("#results tbody tr")
            expect(rows).to_have_count(min(50, len(expected)))
            assert len(expected) > 50
            page.click("#more")
            expect(rows).to_have_count(len(expected))
            expect(page.locator("#search-status")).to_contain_text(f"{len(expected)} of {len(expected)} matching")
            expect(page.locator("#more")).to_be_hidden()
            texts = rows.all_inner_texts()
            assert all("\tuser_login\tfailure\tbob\t" in t for t in texts), texts[:3]
            stamps = [t.split("\t")[0] for t in texts]
            assert stamps == sorted(stamps, reverse=True)
            assert all("2026-11-30T09" <= s < "2026-11-30T21" for s in stamps)
            assert "<script>" in texts[0]  # shown as text, never run
            page.screenshot(path=str(ARTIFACTS / "ui-search-results.png"), full_page=True)

            rows.nth(2).click()
            expect(page.locator("#integrity")).to_have_class("ok", timeout=20_000)
            expect(page.locator("#integrity")).to_contain_text("verified: leaf")
            expect(page.locator("#integrity")).to_contain_text("signed by auditseal.local")
            assert '"outcome": "failure"' in page.inner_text("#event-json")
            page.screenshot(path=str(ARTIFACTS / "ui-event-verified.png"), full_page=True)

            page.click("nav >> text=Agents")
            expect(page.locator("#agents tbody tr")).to_have_count(1)
            expect(page.locator("#agents tbody tr")).to_contain_text("none")  # no gaps
            page.click("nav >> text=Checkpoints")
            expect(page.locator("#checkpoints tbody tr").first).to_contain_text("acme/0")
            page.screenshot(path=str(ARTIFACTS / "ui-checkpoints.png"), full_page=True)
            browser.close()
        assert errors == []
        assert (ARTIFACTS / "ui-search-results.png").stat().st_size > 10_000
    finally:
        pipeline.stop()


@pytest.fixture(autouse=True)
def _chromium_present():
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: scripts/test-deps.sh installs it"
