"""The sealed archive of a running pipeline, checked with the CLI like an auditor would."""

import sqlite3
import subprocess
import sys
import time
import urllib.request

import orjson

from auditseal.formats import wire
from auditseal.formats.event import canonical_bytes
from auditseal.formats.index_layout import SQLITE_INSERT, sqlite_row
from tests.e2e.test_bad_input import agent_event, post
from tests.harness import wait_for


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "auditseal.cli", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def verify_archive(pipeline, *extra: str) -> subprocess.CompletedProcess:
    """``auditseal verify`` of the pipeline's archive with its key and public key."""
    archive_dir = pipeline.root / "collector" / "archive"
    keys = pipeline.root / "keys"
    return cli(
        "verify",
        "--archive",
        str(archive_dir),
        "--pubkey",
        str(keys / "auditseal.local.vkey"),
        "--archive-key",
        str(keys / "archive.key"),
        *extra,
    )


def sealed_leaves(pipeline) -> int:
    done = verify_archive(pipeline, "--json")
    return orjson.loads(done.stdout)["events_verified"] if done.stdout else 0


def test_verify_prove_and_tamper_through_the_cli(pipeline):
    pipeline.setup.collector_config.write_text(
        pipeline.setup.collector_config.read_text().replace("archive:\n", "archive:\n  segment_max_age: 0.5\n")
    )
    pipeline.start_collector()
    pipeline.start_agent()
    pipeline.write_events(0, 3000, chunk=1000, pause=0.6)
    pipeline.wait_indexed(3000)
    wait_for(lambda: sealed_leaves(pipeline) == 3000, 30, "all events sealed")
    archive_dir = str(pipeline.root / "collector" / "archive")
    vkey = str(pipeline.root / "keys" / "auditseal.local.vkey")
    key = ["--archive-key", str(pipeline.root / "keys" / "archive.key")]
    state = str(pipeline.root / "verify-state.json")
    index = "sqlite:" + str(pipeline.index_path)

    done = cli("verify", "--archive", archive_dir, "--pubkey", vkey, "--state", state, "--index", index, *key)
    assert done.returncode == 0, done.stdout + done.stderr
    segments = int(done.stdout.split("/")[0])  # how many depends on how fast the sealer ran
    assert segments >= 1 and f"{segments}/{segments} segments valid (3000 events verified, 0 findings)" in done.stdout

    # An inclusion proof from the admin API and from the CLI, both checked offline.
    event_id = pipeline.index_docs()[1234]["event"]["id"]
    request = urllib.request.Request(
        f"{pipeline.setup.admin_url}/v1/proof?event_id={event_id}&tenant=acme",
        headers={"Authorization": f"Bearer {pipeline.setup.token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        bundle = resp.read()
    bundle_path = pipeline.root / "proof.json"
    bundle_path.write_bytes(bundle)
    done = cli("prove", "--check", str(bundle_path), "--pubkey", vkey)
    assert done.returncode == 0 and f"event {event_id} is leaf" in done.stdout, done.stderr
    done = cli("prove", event_id, "--archive", archive_dir, "--pubkey", vkey, *key)
    assert done.returncode == 0 and orjson.loads(done.stdout)["leaf_index"] == orjson.loads(bundle)["leaf_index"]

    # The proof call is itself an audit event (auditseal.query) in acme's log, sealed too.
    wait_for(lambda: sealed_leaves(pipeline) == 3001, 30, "the proof call's audit event sealed")
    # A replayed, correctly signed batch adds no leaf.
    body = wire.encode_body([agent_event(1)])
    status, answer = post(pipeline, body, 1, 1)
    assert status == 200 and answer == {
        "accepted": 0,
        "duplicates": 1,
        "acked_seq": 3000,
        "rejected": [],
        "pipelining": True,
    }
    time.sleep(1.5)
    assert sealed_leaves(pipeline) == 3001

    # Tamper with one segment: exit 1, the finding names code, log, range and object.
    pipeline.stop()
    sealed = sorted((pipeline.root / "collector" / "archive" / "acme" / "0" / "segments").iterdir())
    segments, segment = len(sealed), sealed[0]
    segment.chmod(0o644)
    data = bytearray(segment.read_bytes())
    data[-10] ^= 0xFF
    segment.write_bytes(bytes(data))
    done = cli("verify", "--archive", archive_dir, "--pubkey", vkey, "--state", state)  # no key: by hash
    assert done.returncode == 1
    first, last = segment.name.split(".")[0].split("-")
    assert f"SEGMENT_HASH_MISMATCH acme/0 leaves {int(first)}-{int(last)} acme/0/segments/{segment.name}" in done.stdout
    assert f"{segments - 1}/{segments} segments valid" in done.stdout
    done = cli("verify", "--archive", archive_dir, "--pubkey", vkey, "--json")
    report = orjson.loads(done.stdout)
    assert [f["code"] for f in report["findings"]] == ["SEGMENT_HASH_MISMATCH"]


def test_the_collector_verifies_itself_and_raises_one_integrity_failure_per_finding(pipeline):
    pipeline.setup.collector_config.write_text(
        pipeline.setup.collector_config.read_text().replace("archive:\n", "archive:\n  segment_max_age: 0.3\n")
        + "verify:\n  interval: 1\n"
    )
    pipeline.start_collector()
    pipeline.start_agent()
    pipeline.write_events(0, 200)
    pipeline.wait_indexed(200)
    wait_for(lambda: sealed_leaves(pipeline) == 200, 30, "events sealed")
    segment = sorted((pipeline.root / "collector" / "archive" / "acme" / "0" / "segments").iterdir())[0]
    segment.chmod(0o644)
    data = bytearray(segment.read_bytes())
    data[20] ^= 0x01
    segment.write_bytes(bytes(data))

    def alerts():
        return pipeline.alerts("acme", rule="integrity-failure")

    found = wait_for(alerts, 20, "an integrity alert")
    assert [a["details"]["context"]["labels"]["finding_code"] for a in found] == ["SEGMENT_HASH_MISMATCH"]
    assert found[0]["details"]["context"]["labels"]["object"] == f"acme/0/segments/{segment.name}"
    assert found[0]["details"]["severity"] == "critical"
    time.sleep(2.5)  # several more verification runs: the same finding alerts once
    assert len(alerts()) == 1
    events = wait_for(
        lambda: [d for d in pipeline.index_docs() if d["event"]["action"] == "integrity_failure"],
        10,
        "the security event",
    )
    assert len(events) == 1
    event = events[0]
    assert event["organization"]["id"] == "acme" and event["labels"]["finding_code"] == "SEGMENT_HASH_MISMATCH"
    assert event["agent"]["id"] == "collector.local" and event["event"]["kind"] == "alert"
    metrics = pipeline.collector_metrics()
    assert metrics['auditseal_collector_verify_runs_total{result="findings"}'] >= 2


def test_a_tenants_log_deleted_under_the_running_collector_is_one_alert_and_one_event(pipeline):
    """``rm -rf`` of globex's log while events keep flowing for both tenants: the collector's
    own check (every second) raises exactly one alert and one finding event, for globex only,
    however many runs see the loss; the sealer goes on with globex's log (its new checkpoints
    still commit to the lost leaves), and the finding event is sealed there."""
    import shutil

    pipeline.setup.collector_config.write_text(
        pipeline.setup.collector_config.read_text().replace("archive:\n", "archive:\n  segment_max_age: 0.3\n")
        + "verify:\n  interval: 1\n"
    )
    pipeline.start_collector()
    pipeline.start_agent()
    pipeline.write_events(0, 200, tenant="acme")
    pipeline.write_events(200, 100, tenant="globex")
    pipeline.wait_indexed(300)
    wait_for(lambda: sealed_leaves(pipeline) == 300, 30, "events sealed")
    state_file = pipeline.root / "collector" / "verify-state.json"
    wait_for(
        lambda: state_file.exists() and orjson.loads(state_file.read_bytes()).get("globex/0", {}).get("size") == 100,
        20,
        "the collector's check remembers globex's log",
    )

    def alerts(tenant):
        return pipeline.alerts(tenant, rule="integrity-failure")

    shutil.rmtree(pipeline.root / "collector" / "archive" / "globex")
    found = wait_for(lambda: alerts("globex"), 20, "an alert for the vanished log")
    labels = [a["details"]["context"]["labels"] for a in found]
    # Each poll of /v1/alerts is an audit event in globex's log, which the sealer goes on with:
    # the loss is seen as LOG_MISSING, or as CHECKPOINT_MISSING once the log has grown again.
    assert [(x["first_leaf"], x["last_leaf"]) for x in labels] == [(0, 99)]
    code = labels[0]["finding_code"]
    assert code in ("LOG_MISSING", "CHECKPOINT_MISSING")
    alert_events = wait_for(pipeline.alert_events, 10, "the alert's own audit event")
    assert [(e["organization"]["id"], e["rule"]["name"]) for e in alert_events] == [("globex", "integrity-failure")]
    runs = pipeline.collector_metrics()['auditseal_collector_verify_runs_total{result="findings"}']
    pipeline.write_events(300, 50, tenant="globex")  # the tenant's events keep coming
    pipeline.write_events(350, 50, tenant="acme")
    pipeline.wait_indexed(401)  # 400 + the finding event
    wait_for(
        lambda: pipeline.collector_metrics()['auditseal_collector_verify_runs_total{result="findings"}'] >= runs + 3,
        30,
        "more verification runs after globex's log grew again",
    )
    assert len(alerts("globex")) == 1 and alerts("acme") == []
    events = [d for d in pipeline.index_docs() if d["event"]["action"] == "integrity_failure"]
    assert len(events) == 1, events
    assert events[0]["organization"]["id"] == "globex" and events[0]["labels"]["finding_code"] == code

    # Offline, with the key: the lost leaves are bounded by the log's new checkpoints, and the
    # finding event and the later globex events are sealed in the log that goes on.
    def all_sealed():
        # acme, globex after the loss, the finding event, the alert's own audit event, and
        # the audit events of this test's admin calls
        calls = len([d for d in pipeline.index_docs() if d["event"]["action"] == "auditseal.query"])
        report = orjson.loads(verify_archive(pipeline, "--json").stdout)
        return report if report["events_verified"] == 250 + 50 + 1 + 1 + calls else None

    report = wait_for(all_sealed, 30, "every event sealed")
    assert [(f["code"], f["log"], f["first"], f["last"]) for f in report["findings"]] == [
        ("CHECKPOINT_MISSING", "globex/0", 0, 99)
    ]


def test_a_tenant_sealed_in_two_retention_logs_verifies_against_its_index(pipeline):
    """Authentication events sealed in their own log (a retention rule), the rest in "0",
    all indexed together: the auditor's ``verify --index`` compares the index with both."""
    config = pipeline.setup.collector_config
    config.write_text(
        config.read_text().replace("archive:\n", "archive:\n  segment_max_age: 0.5\n")
        + "retention:\n  rules:\n    - name: auth\n      categories: [authentication]\n      archive_days: 3650\n"
    )
    pipeline.start_collector()
    pipeline.start_agent()
    pipeline.write_events(0, 900, chunk=300, pause=0.6)
    pipeline.wait_indexed(900)
    wait_for(lambda: sealed_leaves(pipeline) == 900, 30, "all events sealed")
    pipeline.stop()
    index = "sqlite:" + str(pipeline.index_path)
    done = verify_archive(pipeline, "--index", index, "--json")
    report = orjson.loads(done.stdout)
    assert done.returncode == 0 and report["findings"] == [], done.stdout + done.stderr
    assert sorted(report["logs"]) == ["acme/0", "acme/auth"] and sum(report["logs"].values()) == 900

    conn = sqlite3.connect(pipeline.index_path)
    event_id = conn.execute(
        "SELECT event_id FROM events WHERE categories LIKE '%|authentication|%' LIMIT 1"
    ).fetchone()[0]
    vkey = str(pipeline.root / "keys" / "auditseal.local.vkey")
    done = cli(
        "prove",
        event_id,
        "--archive",
        str(pipeline.root / "collector" / "archive"),
        "--pubkey",
        vkey,
        "--archive-key",
        str(pipeline.root / "keys" / "archive.key"),
    )
    assert done.returncode == 0 and orjson.loads(done.stdout)["log"] == "acme/auth", done.stdout + done.stderr
    # The event moved to a tenant the archive has no log of, every column what its document says.
    (stored,) = conn.execute("SELECT doc FROM events WHERE event_id = ?", (event_id,)).fetchone()
    doc = orjson.loads(stored)
    doc["organization"]["id"] = "initech"
    conn.execute("DELETE FROM events WHERE event_id = ?", (event_id,))
    conn.execute(SQLITE_INSERT, sqlite_row(doc, canonical_bytes(doc)))
    conn.commit()
    conn.close()
    done = verify_archive(pipeline, "--index", index, "--json")
    assert done.returncode == 1
    findings = [(f["code"], f["log"], f["object"]) for f in orjson.loads(done.stdout)["findings"]]
    assert findings == [
        ("INDEX_MISSING", "acme/auth", f"acme/auth/index:{event_id}"),
        ("INDEX_EXTRA", "initech", f"initech/index:{event_id}"),
    ]
