"""A poison event reaching a live sink is quarantined alone; the sink keeps going.

The poison here passes every check of the agent and the collector — it is a storable event —
but the index cannot take it: ``labels.n`` is mapped as a number by the events before it,
and this one carries text there (Elasticsearch's dynamic mapping conflict, which no
admission check can know in advance). The same event seals into the archive as usual.
"""

import subprocess
import sys

import orjson
import pytest

from tests.e2e.test_integrity_cli import sealed_leaves, verify_archive
from tests.harness import Pipeline, wait_for

POISON = (
    b'{"event":{"action":"api_key_created","category":"iam","outcome":"success"},'
    b'"user":{"name":"mallory"},"labels":{"n":"not-a-number"}}\n'
)


def quarantine(pipe: Pipeline, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "collector.main", "quarantine", *args, "--config", str(pipe.setup.collector_config)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def listed(pipe: Pipeline) -> list[dict]:
    done = quarantine(pipe, "list", "--json")
    assert done.returncode == 0, done.stderr
    return [orjson.loads(line) for line in done.stdout.splitlines()]


def shipped(es) -> list[tuple]:
    """The indexed events the agent shipped (not the collector's own: its alerts' audit
    events, and the ``auditseal.query`` events of this test's admin calls)."""
    return [d for d in es.documents() if not d[2]["agent"]["id"].startswith("collector.")]


def collectors_own(es) -> int:
    return len(es.documents()) - len(shipped(es))


def alerts(pipe: Pipeline) -> list[dict]:
    return pipe.alerts("acme", rule="sink_quarantine")


@pytest.mark.timeout(300)
def test_a_poison_event_is_quarantined_and_the_sink_goes_on(es, tmp_path):
    pipe = Pipeline(
        tmp_path / "pipe",
        collector_overrides={
            "index": {"type": "elasticsearch", "hosts": [es.url], "request_timeout": 5},
            "archive": {"segment_max_age": 0.3},
        },
    )
    try:
        pipe.start_collector()
        pipe.start_agent()
        pipe.write_events(0, 100)
        wait_for(lambda: len(shipped(es)) >= 100, 60, "the first 100 indexed")
        with open(pipe.watched, "ab") as f:
            f.write(POISON)
        pipe.write_events(100, 100)
        # The sink went on past the poison: the events after it are indexed.
        wait_for(lambda: len(shipped(es)) >= 200, 30, "the 100 after the poison indexed")
        entries = wait_for(lambda: listed(pipe), 10, "the quarantine entry")
        assert len(entries) == 1
        entry = entries[0]
        assert entry["sink"] == "index" and entry["tenant"] == "acme" and entry["seq"] == 101
        assert "labels.n" in entry["error"] and orjson.loads(entry["line"])["user"]["name"] == "mallory"
        assert {d["labels"]["n"] for _, _, d in shipped(es)} == set(range(200))
        found = [a for a in wait_for(lambda: alerts(pipe), 10, "an alert") if a["rule"] == "sink_quarantine"]
        assert len(found) == 1 and found[0]["details"]["event_id"] == entry["event_id"]
        metrics = pipe.collector_metrics()
        assert (
            sum(
                v
                for k, v in metrics.items()
                if k.startswith('auditseal_collector_quarantined_events_total{error="Poison",sink="index"')
            )
            == 1
        )
        text = quarantine(pipe, "list").stdout
        assert entry["event_id"] in text and "1 quarantined events" in text

        # The archive holds it like any event, and verifies.
        wait_for(
            lambda: sealed_leaves(pipe) == 201 + collectors_own(es), 30, "201 events and the collector's own sealed"
        )
        done = verify_archive(pipe)
        assert done.returncode == 0 and "0 findings" in done.stdout, done.stdout + done.stderr

        # A retry the index still refuses leaves the entry as it was; nothing else moves.
        assert "retry asked for 1 events" in quarantine(pipe, "retry", "--sink", "index").stdout
        wait_for(lambda: "quarantine retried" in pipe.collector.output(), 20, "the retry to run")
        assert [e["event_id"] for e in listed(pipe)] == [entry["event_id"]]
        assert len(shipped(es)) == 200 and pipe.collector.alive()
        pipe.write_events(200, 1000)
        wait_for(lambda: len(shipped(es)) >= 1200, 60, "the next 1,000 indexed")
        assert len(alerts(pipe)) == 1
    finally:
        pipe.stop()
    assert "Traceback" not in pipe.collector.output(), pipe.collector.output()[-3000:]
