"""Each production sink away while events flow, then back: every event indexed and archived
exactly once, nothing lost, ingest never stopped (the journal held them). ``make test`` keeps
each away 40 s (the sink runner retries at most every 5 s, so that is 8 retries and more);
``make soak`` keeps each away 5 minutes (``AUDITSEAL_TEST_OUTAGE`` seconds).

Elasticsearch: the suite's Elasticsearch-API server, stopped and restarted on its port.
S3: the real Ceph RADOS Gateway (tests/ceph.py), its gateway stopped and restarted.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from auditseal.audit.verify import verify_store
from auditseal.formats.note import Verifier
from auditseal.storage import archive
from collector.sinks.es import templates
from tests.harness import Pipeline, assert_exactly_once, wait_for

OUTAGE = int(__import__("os").environ.get("AUDITSEAL_TEST_OUTAGE", "40"))  # seconds each sink is away
RATE = 400  # events/s written while it is


def readyz(pipe: Pipeline) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(pipe.setup.admin_url + "/readyz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def query(pipe: Pipeline, params: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{pipe.setup.admin_url}/v1/events?{params}", headers={"Authorization": f"Bearer {pipe.setup.token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def es_rows(es) -> list[tuple]:
    return [
        (doc["agent"]["id"], doc["event"]["sequence"], doc["labels"]["n"])
        for _, _, doc in es.documents()
        if not doc["agent"]["id"].startswith("collector.")  # the collector's own: alerts, admin calls
    ]


def flow(pipe: Pipeline, total: int) -> threading.Thread:
    return pipe.write_events_in_background(0, total, RATE // 10, 0.1)


@pytest.fixture
def stopping():
    pipes = []
    yield pipes.append
    for pipe in pipes:
        pipe.stop()
        assert "Traceback" not in pipe.collector.output(), pipe.collector.output()[-3000:]
        assert "Traceback" not in pipe.agent.output(), pipe.agent.output()[-3000:]


@pytest.mark.timeout(900)
@pytest.mark.es_faults
def test_elasticsearch_down_for_minutes_then_back(es, tmp_path, stopping):
    pipe = Pipeline(
        tmp_path / "pipe",
        collector_overrides={"index": {"type": "elasticsearch", "hosts": [es.url], "request_timeout": 5}},
    )
    stopping(pipe)
    total = RATE * (OUTAGE + 20)
    pipe.start_collector()
    pipe.start_agent()
    writer = flow(pipe, total)
    wait_for(lambda: len(es.documents()) > 1000, 60, "events in Elasticsearch")
    # The admin API queries Elasticsearch (after its 1 s refresh).
    status, found = wait_for(
        lambda: (r := query(pipe, "tenant=acme&limit=500")) and r[1].get("count") == 500 and r,
        30,
        "admin query answered from Elasticsearch",
    )
    assert status == 200 and all(e["organization"]["id"] == "acme" for e in found["events"])
    es.stop()
    down_at = time.monotonic()
    # Degraded, still accepting: the journal holds what the index cannot take.
    status, body = wait_for(
        lambda: (r := readyz(pipe)) and r[1].get("status") == "degraded" and r, 30, "readiness to say degraded"
    )
    assert status == 200 and "index" in body["sinks_failing"] and body["ready"] is True
    status, refused = query(pipe, "tenant=acme")
    assert status == 503 and refused["reason"] == "index_unavailable" and "127.0.0.1" not in refused["error"]
    acked_before = pipe.agent_metric("auditseal_agent_events_acked_total")
    time.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))
    assert pipe.agent_metric("auditseal_agent_events_acked_total") > acked_before + RATE * (OUTAGE / 2)
    es.start()
    writer.join()
    wait_for(lambda: len(es.documents()) >= total, 240, f"{total} events in Elasticsearch", interval=1)
    time.sleep(2)
    assert_exactly_once(es_rows(es), range(total))
    assert sorted(s.name for s in es.streams.values()) == [templates.data_stream("acme")]
    # The archive never stopped: every event sealed once there too.
    wait_for(lambda: readyz(pipe)[1].get("status") == "ok", 30, "readiness back to ok")
    store = archive.LocalStore(pipe.root / "collector" / "archive")
    sealed = wait_for(
        lambda: (rows := settled_rows(store, pipe)) and len(rows) >= total and rows,
        60,
        f"{total} events sealed",
        interval=1,
    )
    assert_exactly_once(sealed, range(total))
    assert_exactly_once(sealed_rows(store, pipe), range(total))  # and nothing unverified since


@pytest.mark.timeout(600)
@pytest.mark.es_faults
def test_a_full_journal_answers_503_and_loses_nothing(es, tmp_path, stopping):
    """With Elasticsearch away long enough to fill the journal's bound, agents get 503 and
    keep events in their spools; when it returns everything arrives once."""
    pipe = Pipeline(
        tmp_path / "pipe",
        collector_overrides={
            "index": {"type": "elasticsearch", "hosts": [es.url], "request_timeout": 5},
            "journal": {"max_bytes": 1024 * 1024, "max_segment_bytes": 64 * 1024},
        },
    )
    stopping(pipe)
    total = 12_000  # ~4 MB of events: four times the bound
    es.stop()
    pipe.start_collector()
    pipe.start_agent()
    writer = flow(pipe, total)
    status, body = wait_for(lambda: (r := readyz(pipe)) and r[0] == 503 and r, 90, "the journal bound")
    assert body["journal_full"] is True and body["status"] == "unavailable"
    wait_for(
        lambda: pipe.collector_metrics().get('auditseal_collector_rejects_total{reason="journal_full"}', 0) > 0,
        30,
        "503 journal_full answers",
    )
    # The agent holds what the collector refused: spooled, not acknowledged.
    wait_for(
        lambda: (
            pipe.agent_metric("auditseal_agent_events_spooled_total")
            > pipe.agent_metric("auditseal_agent_events_acked_total") + 2000
        ),
        60,
        "events held in the agent's spool",
    )
    assert readyz(pipe)[0] == 503  # still full: nothing drains while the index is away
    es.start()
    writer.join()
    wait_for(lambda: len(es.documents()) >= total, 240, f"{total} events in Elasticsearch", interval=1)
    time.sleep(2)
    assert_exactly_once(es_rows(es), range(total))


def settled_rows(store, pipe: Pipeline) -> list[tuple] | None:
    """``sealed_rows``, or None while the archive does not verify yet: the last segment may be
    stored with its checkpoint still on the way (the sealer writes the segment first); the
    caller waits and then checks once more, strictly."""
    try:
        return sealed_rows(store, pipe)
    except AssertionError:
        return None


def sealed_rows(store, pipe: Pipeline) -> list[tuple]:
    """(agent, seq, labels.n) of every sample event in every verified segment."""
    vkey = (pipe.root / "keys" / "auditseal.local.vkey").read_text()
    from auditseal.formats.crypto import SegmentCipher

    cipher = SegmentCipher.load(pipe.root / "keys" / "archive.key")
    report = verify_store(store, [Verifier.parse(vkey)], cipher=cipher)
    assert report.findings == [], [f.line() for f in report.findings]
    rows = []
    for tenant, partition in archive.list_logs(store):
        name = f"{tenant}/{partition}"
        for key in store.list(f"{name}/segments/"):
            for line in archive.decode_segment(store.get(key), cipher, key):
                doc = orjson.loads(line)
                if not doc["agent"]["id"].startswith("collector."):  # the collector's own: admin calls
                    rows.append((doc["agent"]["id"], doc["event"]["sequence"], doc["labels"]["n"]))
    return rows


@pytest.mark.timeout(900)
def test_s3_down_for_minutes_then_back(ceph, tmp_path, stopping):
    bucket = ceph.bucket()
    pipe = Pipeline(
        tmp_path / "pipe",
        collector_overrides={
            "archive": {
                "type": "s3",
                "bucket": bucket,
                "prefix": "audit",
                "endpoint_url": ceph.endpoint,
                "segment_max_age": 2.0,
            },
            "retention": {"archive_days": 1},
        },
    )
    pipe.collector.env = ceph.env
    stopping(pipe)
    total = RATE * (OUTAGE + 20)
    pipe.start_collector()
    pipe.start_agent()
    writer = flow(pipe, total)
    store = ceph.store(bucket, "audit")
    wait_for(lambda: store.list(""), 60, "first objects in S3")
    ceph.gateway_stop()
    down_at = time.monotonic()
    try:
        status, body = wait_for(
            lambda: (r := readyz(pipe)) and r[1].get("status") == "degraded" and r, 60, "readiness to say degraded"
        )
        assert status == 200 and "archive" in body["sinks_failing"]
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))
        # Ingest and the index went on without the archive.
        assert pipe.index_count() > RATE * OUTAGE / 2
    finally:
        ceph.gateway_start()
    writer.join()
    pipe.wait_indexed(total, timeout=120)
    assert_exactly_once(pipe.index_rows(), range(total))
    wait_for(lambda: readyz(pipe)[1].get("status") == "ok", 120, "the archive to catch up")

    def archived():
        rows = settled_rows(ceph.store(bucket, "audit"), pipe)
        return rows and len(rows) >= total and rows

    rows = wait_for(archived, 120, f"{total} events sealed in S3", interval=2)
    assert_exactly_once(rows, range(total))
    assert_exactly_once(sealed_rows(ceph.store(bucket, "audit"), pipe), range(total))  # still clean
    assert ceph.store(bucket, "audit").anomalies() == []


def index_worker(pipe: Pipeline) -> int | None:
    """The pid of the collector's index worker process (its one child running it)."""
    for task in (Path("/proc") / str(pipe.collector.pid) / "task").iterdir():
        try:  # a thread, or a child, may end while we look
            children = (task / "children").read_text().split()
            for child in children:
                if b"collector.sinks.index_process" in (Path("/proc") / child / "cmdline").read_bytes():
                    return int(child)
        except FileNotFoundError:
            continue
    return None


def gone(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().split(") ", 1)[1][0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.timeout(300)
def test_the_index_worker_killed_again_and_again_under_load_loses_and_repeats_nothing(pipeline):
    """The SQLite index writes in a worker process (``index.own_process``, the default). Killed
    mid-transaction five times while events flow: the collector starts another, replays from
    the index's cursor, and every event is indexed once. A collector killed outright takes its
    worker with it (the worker ends when its pipe closes)."""
    total = 6000
    pipeline.start_collector()
    pipeline.start_agent()
    writer = pipeline.write_events_in_background(0, total, 100, 0.05)
    killed = []
    try:
        for _ in range(5):
            worker = wait_for(
                lambda: (pid := index_worker(pipeline)) not in (None, *killed) and pid, 30, "a new worker"
            )
            time.sleep(0.4)
            os.kill(worker, signal.SIGKILL)
            killed.append(worker)
    finally:
        writer.join()
    # A worker killed while idle is replaced by the next batch: send one more.
    pipeline.write_events(total, 100)
    assert_exactly_once(pipeline.wait_indexed(total + 100, timeout=120), range(total + 100))
    errors = pipeline.collector_metrics()['auditseal_collector_sink_errors_total{sink="index"}']
    assert 1 <= errors <= 5 * 2, "each kill is one failed call (a second if it fell on the open)"
    worker = index_worker(pipeline)
    assert worker is not None and worker not in killed
    pipeline.collector.kill()
    wait_for(lambda: gone(worker), 15, "the worker to end with its collector")
