"""The Kibana objects import into the lowest Kibana supported (a test double modelled on
Kibana 8.0.0's registered types), and ``setup --kibana`` installs them idempotently."""

import subprocess
import sys

import orjson
import pytest
import yaml

from auditseal.dev import devsetup
from collector.sinks.es import kibana

from .kibana_server import KIBANA_8_0, KibanaTestServer


@pytest.fixture
def kibana_double():
    servers = []

    def start(**options):
        server = KibanaTestServer(**options)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def config(tmp_path):
    return devsetup.setup(tmp_path / "dev").collector_config


def setup(config, *extra):
    return subprocess.run(
        [sys.executable, "-m", "collector.main", "setup", "--config", str(config), *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_objects_declare_the_lowest_versions_and_attributes_kibana_8_0_knows():
    for o in kibana.saved_objects():
        assert o["coreMigrationVersion"] == KIBANA_8_0["version"]
        assert o["migrationVersion"] == {o["type"]: KIBANA_8_0["migrations"][o["type"]]}
        assert "typeMigrationVersion" not in o  # 8.0 reads migrationVersion; 8.8+ read both
        assert set(o["attributes"]) <= KIBANA_8_0["attributes"][o["type"]], o["id"]


def test_the_dashboard_has_the_panels_an_operator_looks_for():
    objects = {o["id"]: o for o in kibana.saved_objects()}
    board = objects[kibana.DASHBOARD_ID]
    titles = [objects[r["id"]]["attributes"]["title"] for r in board["references"]]
    for wanted in ("logins by outcome", "top failing source IPs", "admin", "key", "flag", "integrity", "alerts"):
        assert any(wanted in t for t in titles), wanted
    outcome = orjson.loads(objects["auditseal-logins-by-outcome"]["attributes"]["visState"])
    assert [a["params"].get("field") for a in outcome["aggs"]] == [None, "@timestamp", "event.outcome"]
    cells = set()
    for panel in orjson.loads(board["attributes"]["panelsJSON"]):
        g = panel["gridData"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 48  # Kibana's grid is 48 columns wide
        here = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & here, f"panel {panel['panelIndex']} overlaps another"
        cells |= here


def test_import_into_kibana_8_0_succeeds_and_every_object_renders(kibana_double, config):
    server = kibana_double()
    done = setup(config, "--kibana", server.url)
    assert done.returncode == 0, done.stderr
    assert len(server.objects) == len(kibana.saved_objects())
    assert server.check_renders() == []


def test_objects_newer_than_the_kibana_are_refused_with_kibanas_reason(kibana_double):
    """What the objects of 0.1 (search at 10.5.0) met in Kibana 8.0: the double refuses them as
    Kibana does, and setup says why instead of claiming success."""
    server = kibana_double()
    old = [o for o in kibana.saved_objects() if o["type"] == "search"][0]
    newer = {**old, "typeMigrationVersion": "10.5.0"}
    newer.pop("migrationVersion")
    assert server._migration_refusal(newer) == (
        f'Document "{old["id"]}" belongs to a more recent version of Kibana [10.5.0] when the last known version is [8.0.0].'
    )
    assert server._migration_refusal(old) is None


def test_setup_kibana_installs_once_keeps_edits_and_overwrites_on_request(kibana_double, config):
    server = kibana_double()
    first = setup(config, "--kibana", server.url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("kibana 8.0.0: installed index-pattern/auditseal-audit, search/")
    assert "dashboard/auditseal-overview" in first.stdout and "elasticsearch" not in first.stdout
    edited = server.objects[("default", "search", "auditseal-failed-logins")]
    edited["attributes"]["title"] = "our failed logins"  # an operator's edit in Kibana
    again = setup(config, "--kibana", server.url)
    assert again.returncode == 0, again.stderr
    assert "installed nothing" in again.stdout and "kept (present; --overwrite to replace)" in again.stdout
    assert (
        server.objects[("default", "search", "auditseal-failed-logins")]["attributes"]["title"] == "our failed logins"
    )
    replaced = setup(config, "--kibana", server.url, "--overwrite")
    assert replaced.returncode == 0 and "kept" not in replaced.stdout
    assert (
        server.objects[("default", "search", "auditseal-failed-logins")]["attributes"]["title"]
        == "auditseal: failed logins"
    )
    assert server.check_renders() == []


def test_setup_kibana_into_a_space_and_with_the_index_credentials(kibana_double, config, tmp_path):
    server = kibana_double(api_key="a2V5LWlkOnNlY3JldA==", spaces=("default", "security"))
    cfg = yaml.safe_load(config.read_text())
    key = tmp_path / "es.key"
    key.write_text("wrong-key\n")
    cfg["index"] = {"type": "elasticsearch", "hosts": ["http://127.0.0.1:1"], "api_key_file": str(key)}
    config.write_text(yaml.safe_dump(cfg))
    refused = setup(config, "--kibana", server.url, "--space", "security")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "kibana: GET /api/status: HTTP 401: [security_exception]: unable to authenticate" in refused.stderr
    assert "wrong-key" not in refused.stdout + refused.stderr
    key.write_text("a2V5LWlkOnNlY3JldA==\n")
    done = setup(config, "--kibana", server.url, "--space", "security")
    assert done.returncode == 0, done.stderr
    assert {s for s, _, _ in server.objects} == {"security"} and server.check_renders("security") == []
    assert "POST /s/security/api/saved_objects/_import?overwrite=false" in server.requests
    missing = setup(config, "--kibana", server.url, "--space", "nope")
    assert missing.returncode == 1 and "HTTP 404: Saved object [space/nope] not found" in missing.stderr


def test_setup_kibana_refuses_kibana_7_and_an_unreachable_one(kibana_double, config):
    server = kibana_double(model={**KIBANA_8_0, "version": "7.17.9"})
    done = setup(config, "--kibana", server.url)
    assert done.returncode == 1 and "Kibana 7.17.9 is older than 8.0.0, the lowest supported" in done.stderr
    assert not server.objects
    gone = setup(config, "--kibana", "http://127.0.0.1:1")
    assert gone.returncode == 1 and "http://127.0.0.1:1: ClientConnectorError" in gone.stderr
    assert "Traceback" not in gone.stderr


def test_import_failures_are_reported_per_object():
    reply = {
        "success": False,
        "successCount": 1,
        "successResults": [{"type": "index-pattern", "id": "auditseal-audit"}],
        "errors": [
            {"type": "search", "id": "a", "error": {"type": "conflict"}},
            {
                "type": "dashboard",
                "id": "b",
                "error": {"type": "missing_references", "references": [{"type": "search", "id": "x"}]},
            },
            {"type": "lens", "id": "c", "error": {"type": "unsupported_type"}},
        ],
    }
    assert kibana.import_outcome(reply) == (
        ["index-pattern/auditseal-audit"],
        ["search/a"],
        ["dashboard/b: missing references search/x", "lens/c: unsupported_type"],
    )


def test_an_odd_import_answer_is_reported_not_a_crash():
    reply = {
        "successResults": [{"type": "search"}, "junk"],
        "errors": [
            "junk",
            {"id": "x", "error": "not an object"},
            {"type": "dashboard", "id": "d", "error": {"type": "missing_references", "references": [{"id": "y"}, 3]}},
        ],
    }
    installed, kept, failed = kibana.import_outcome(reply)
    assert installed == ["search/None"] and kept == []
    assert failed == ["unreadable error entry: junk", "None/x: unknown", "dashboard/d: missing references None/y"]
    assert kibana.import_outcome({"successResults": None, "errors": None}) == ([], [], [])
