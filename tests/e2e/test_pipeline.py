"""End to end with real processes, real certificates and real files: exactly once, always."""

import time

import orjson
import pytest

from auditseal.formats.crypto import SegmentCipher
from auditseal.storage.archive import decode_segment
from tests.harness import assert_exactly_once, wait_for

TOTAL = 10_000
HALF = TOTAL // 2


def archived_numbers(pipeline) -> list[int]:
    root = pipeline.root / "collector" / "archive"
    cipher = SegmentCipher.load(pipeline.root / "keys" / "archive.key")  # the default encrypts at rest
    return [
        orjson.loads(line)["labels"]["n"]
        for path in root.rglob("*.lz4")
        for line in decode_segment(path.read_bytes(), cipher, str(path.relative_to(root)))
    ]


def test_events_in_a_watched_file_are_indexed_and_archived_exactly_once(pipeline):
    pipeline.start_collector()
    pipeline.start_agent()
    pipeline.write_events(0, TOTAL, chunk=500, pause=0.01)
    rows = pipeline.wait_indexed(TOTAL)
    time.sleep(1.0)  # anything extra (a duplicate) would arrive by now
    assert_exactly_once(pipeline.index_rows(), range(TOTAL))
    assert {agent for agent, _, _ in rows} == {"demo-agent"}
    assert pipeline.collector_metrics()["auditseal_collector_events_accepted_total"] == TOTAL
    wait_for(lambda: len(archived_numbers(pipeline)) >= TOTAL, 30, "archive complete")
    assert sorted(archived_numbers(pipeline)) == list(range(TOTAL))


@pytest.mark.parametrize("victim", ["agent", "collector"])
def test_killed_half_way_and_restarted_loses_and_repeats_nothing(pipeline, victim):
    pipeline.start_collector()
    pipeline.start_agent()
    # The agent tails the flow live (had it started after the writer finished, it would read
    # the whole first half at once and the kill could not land half-way).
    wait_for(pipeline.agent_serving, 20, "the agent running")
    writer = pipeline.write_events_in_background(0, HALF, chunk=100, pause=0.02)
    # SIGKILL while events are read, spooled, shipped and indexed: some, not all, are stored.
    wait_for(lambda: pipeline.index_count() > 500, 30, "some events indexed")
    getattr(pipeline, victim).kill()
    indexed_at_kill = pipeline.index_count()
    writer.join()
    pipeline.write_events(HALF, HALF, chunk=250)
    if victim == "collector":
        time.sleep(1.0)  # the agent keeps spooling and retrying while the collector is down
        assert pipeline.agent.alive()
        pipeline.start_collector()
    else:
        pipeline.start_agent()
    pipeline.wait_indexed(TOTAL)
    time.sleep(1.0)
    assert_exactly_once(pipeline.index_rows(), range(TOTAL))
    assert 500 < indexed_at_kill < HALF, "the kill did not land half-way"
    wait_for(lambda: len(archived_numbers(pipeline)) >= TOTAL, 30, "archive complete")
    assert sorted(archived_numbers(pipeline)) == list(range(TOTAL))
