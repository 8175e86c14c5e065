"""What the Elasticsearch sink installs and the Kibana objects shipped in configs/kibana/."""

import subprocess
import sys
from pathlib import Path

import orjson

from collector.retention import RetentionPolicy, RetentionRule
from collector.sinks.es import kibana, templates
from collector.sinks.es.bulk import Doc, body, classify

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_kibana_file_is_what_export_prints():
    shipped = (ROOT / "configs" / "kibana" / "auditseal.ndjson").read_bytes()
    printed = subprocess.run(
        [sys.executable, "-m", "collector.main", "export", "kibana"], capture_output=True, check=True, cwd=ROOT
    ).stdout
    assert shipped == printed == kibana.ndjson()


def test_saved_searches_reference_the_data_view_on_the_audit_streams():
    objects = [orjson.loads(line) for line in kibana.ndjson().splitlines()]
    view = objects[0]
    assert view["type"] == "index-pattern" and view["attributes"]["title"] == templates.STREAM_PATTERN
    searches = [o for o in objects if o["type"] == "search"]
    titles = " ".join(s["attributes"]["title"] for s in searches)
    for wanted in ("failed logins", "admin actions", "key", "flag", "recovery", "integrity", "alerts"):
        assert wanted in titles
    for s in searches:
        assert s["references"] == [{"name": kibana.INDEX_REF, "type": "index-pattern", "id": view["id"]}]
        source = orjson.loads(s["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        assert source["indexRefName"] == kibana.INDEX_REF and source["query"]["language"] == "kuery"
        assert source["query"]["query"]


def test_per_tenant_hot_retention_gets_its_own_template_and_policy():
    policy = RetentionPolicy(
        index_days=90,
        rules=[
            RetentionRule(name="short", tenants=["sandbox"], index_days=14),
            RetentionRule(name="auth", categories=["authentication"], archive_days=3653),
        ],
    )
    plan = templates.install_plan(policy)
    assert set(plan["ilm"]) == {"auditseal-audit-90d", "auditseal-audit-14d"}
    assert plan["ilm"]["auditseal-audit-14d"]["policy"]["phases"]["delete"]["min_age"] == "14d"
    sandbox = plan["templates"]["auditseal-audit-sandbox"]
    assert sandbox["index_patterns"] == ["logs-auditseal.audit-sandbox"] and sandbox["priority"] == 300
    assert sandbox["template"]["settings"]["index.lifecycle.name"] == "auditseal-audit-14d"


def test_tenant_names_become_distinct_safe_namespaces():
    assert templates.data_stream("acme") == "logs-auditseal.audit-acme"
    upper, lower = templates.namespace("Acme"), templates.namespace("acme")
    assert upper != lower and upper == upper.lower() and upper.startswith("acme_")
    assert templates.namespace("a-b") != templates.namespace("a_b")


def test_bulk_body_sends_the_stored_bytes_as_they_are():
    docs = [Doc("acme", "s", "id1", b'{"a":1}'), Doc("acme", "s", "id2", b'{"b":2}')]
    assert body(docs) == (
        b'{"create":{"_index":"s","_id":"id1"}}\n{"a":1}\n{"create":{"_index":"s","_id":"id2"}}\n{"b":2}\n'
    )


def test_every_item_status_is_sorted():
    docs = [Doc("t", "s", str(i), b"{}") for i in range(6)]
    reply = {
        "errors": True,
        "items": [
            {"create": {"status": 201}},
            {"create": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}},
            {"create": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}},
            {"create": {"status": 503, "error": {"type": "unavailable_shards_exception"}}},
            {"create": {"status": 400, "error": {"type": "document_parsing_exception", "reason": "bad ip"}}},
            {"create": {"status": 404, "error": {"type": "index_not_found_exception", "reason": "gone"}}},
        ],
    }
    out = classify(docs, reply)
    assert (out.stored, out.duplicates) == (1, 1)
    assert [d.event_id for d in out.retry] == ["2", "3"] and out.retry_statuses == {429: 1, 503: 1}
    assert [(d.doc.event_id, d.status, d.error_type) for d in out.dead] == [
        ("4", 400, "document_parsing_exception"),
        ("5", 404, "index_not_found_exception"),
    ]
    import pytest

    with pytest.raises(ValueError):
        classify(docs, {"items": reply["items"][:5]})


def test_export_prints_request_bodies_to_put():
    from collector.retention import RetentionPolicy

    def export(*args):
        return subprocess.run(
            [sys.executable, "-m", "collector.main", "export", *args], capture_output=True, cwd=ROOT, timeout=60
        )

    plan = templates.install_plan(RetentionPolicy())
    assert orjson.loads(export("template").stdout) == plan["templates"][templates.TEMPLATE]
    [(name, policy)] = plan["ilm"].items()
    assert orjson.loads(export("ilm").stdout) == policy and set(policy) == {"policy"}
    console = export("template", "--all").stdout.decode()
    assert console.startswith(f"PUT _index_template/{templates.TEMPLATE}\n{{")
    done = export("ilm", "--name", "nope")
    assert done.returncode == 2 and name in done.stderr.decode()
