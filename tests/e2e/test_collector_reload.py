"""Collector SIGHUP: an HMAC key rotated on collectors and agent without a restart, nothing
lost or doubled; a broken key file on reload is refused and the running keys kept."""

import secrets
import signal
import time
from pathlib import Path

import yaml

from tests.harness import assert_exactly_once, wait_for


def test_hmac_key_rotation_by_sighup_loses_nothing_and_a_broken_reload_is_refused(pipeline):
    pipeline.start_collector()
    pipeline.start_agent()
    collector_cfg = yaml.safe_load(pipeline.setup.collector_config.read_text())
    keys_file = Path(collector_cfg["ingest"]["hmac_keys_file"])
    agent_key_file = Path(yaml.safe_load(pipeline.setup.agent_config.read_text())["output"]["hmac_key_file"])
    old = yaml.safe_load(agent_key_file.read_text())

    pipeline.write_events(0, 200)
    pipeline.wait_indexed(200)

    # 1. the collectors learn the new key beside the old one
    new_secret = secrets.token_hex(32)
    keys = yaml.safe_load(keys_file.read_text())
    keys["demo-agent"]["k-rotated"] = new_secret
    keys_file.write_text(yaml.safe_dump(keys))
    pipeline.collector.popen.send_signal(signal.SIGHUP)
    wait_for(lambda: "reloaded" in pipeline.collector.output(), 10, "the collector's reload")
    # 2. the agent switches to it
    agent_key_file.write_text(yaml.safe_dump({"key_id": "k-rotated", "secret": new_secret}))
    pipeline.agent.popen.send_signal(signal.SIGHUP)
    wait_for(lambda: "config reloaded" in pipeline.agent.output(), 20, "the agent's reload")
    pipeline.write_events(200, 200)
    pipeline.wait_indexed(400)
    # 3. the old key goes
    del keys["demo-agent"][old["key_id"]]
    keys_file.write_text(yaml.safe_dump(keys))
    pipeline.collector.popen.send_signal(signal.SIGHUP)
    wait_for(lambda: pipeline.collector.output().count("reloaded") >= 2, 10, "the second reload")
    pipeline.write_events(400, 100)
    pipeline.wait_indexed(500)

    # A broken key file: refused, the collector runs on with the keys it has.
    keys_file.write_text("demo-agent: [not, a, mapping\n")
    pipeline.collector.popen.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in pipeline.collector.output(), 10, "the refused reload")
    time.sleep(0.5)
    assert pipeline.collector.alive()
    pipeline.write_events(500, 100)
    assert_exactly_once(pipeline.wait_indexed(600), range(600))
    assert new_secret not in pipeline.collector.output() + pipeline.agent.output()


def test_sighup_reloads_alert_rules_from_the_next_batch_and_refuses_a_broken_rule_file(pipeline, tmp_path):
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "10-roles.yaml").write_text(
        "rules:\n  - {name: role-granted, kind: match, severity: low, where: {event.action: role_granted}}\n"
    )
    config = yaml.safe_load(pipeline.setup.collector_config.read_text())
    config.setdefault("alerting", {})["rules_dir"] = str(rules_dir)
    pipeline.setup.collector_config.write_text(yaml.safe_dump(config))
    pipeline.start_collector()
    pipeline.start_agent()

    def fired(rule: str) -> list[int]:
        """The sample numbers of the events the rule's alerts name."""
        number = {d["event"]["id"]: d.get("labels", {}).get("n") for d in pipeline.index_docs()}
        return sorted(number.get(e, -1) for a in pipeline.alerts(rule=rule) for e in a["details"]["events"])

    pipeline.write_events(0, 9)  # sample n % 9 == 4 is role_granted, == 6 feature_flag_changed
    wait_for(lambda: fired("role-granted") == [4], 30, "the role-granted alert")

    (rules_dir / "20-flags.yaml").write_text(
        "rules:\n  - {name: flag-changed, kind: match, severity: low, where: {event.action: feature_flag_changed}}\n"
    )
    pipeline.collector.popen.send_signal(signal.SIGHUP)
    wait_for(lambda: '"msg":"reloaded"' in pipeline.collector.output(), 10, "the reload")
    pipeline.write_events(9, 9)
    wait_for(lambda: fired("flag-changed") == [15], 30, "the new rule's alert")  # not n=6: from the next batch
    wait_for(lambda: fired("role-granted") == [4, 13], 30, "the kept rule's second alert")

    (rules_dir / "30-broken.yaml").write_text("rules:\n  - {name: x, kind: sometimes, where: {}}\n")
    pipeline.collector.popen.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in pipeline.collector.output(), 10, "the refused reload")
    assert "30-broken.yaml" in pipeline.collector.output()
    pipeline.write_events(18, 9)
    wait_for(lambda: fired("flag-changed") == [15, 24], 30, "the running rules still firing")
    assert pipeline.collector.alive()
    assert_exactly_once(pipeline.wait_indexed(27), range(27))


def test_sighup_swaps_the_admin_token_list_under_load_without_dropping_a_batch(pipeline):
    import hashlib
    import urllib.error
    import urllib.request

    pipeline.start_collector()
    pipeline.start_agent()

    def status(token: str) -> int:
        request = urllib.request.Request(
            f"{pipeline.setup.admin_url}/v1/events?tenant=acme&limit=1", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    old, new = pipeline.setup.token, secrets.token_urlsafe(32)
    assert status(old) == 200 and status(new) == 401
    writer = pipeline.write_events_in_background(0, 3000, chunk=100, pause=0.05)
    config = yaml.safe_load(pipeline.setup.collector_config.read_text())
    config["admin"]["token_sha256"] = [hashlib.sha256(new.encode()).hexdigest()]
    pipeline.setup.collector_config.write_text(yaml.safe_dump(config))
    pipeline.collector.popen.send_signal(signal.SIGHUP)
    wait_for(lambda: '"msg":"reloaded"' in pipeline.collector.output(), 10, "the reload")
    assert status(new) == 200 and status(old) == 401
    writer.join()
    assert_exactly_once(pipeline.wait_indexed(3000), range(3000))
    refused = {
        k: v for k, v in pipeline.collector_metrics().items() if k.startswith("auditseal_collector_rejects_total")
    }
    assert refused and not any(refused.values()), refused  # no batch was refused around the reload
    assert "need a restart" not in pipeline.collector.output()
    assert new not in pipeline.collector.output() + pipeline.agent.output()
