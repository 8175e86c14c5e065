"""A damaged spool: the agent always starts (in under 5 s), ships every intact event, and the
collector holds a sequence_gap event for exactly the lost range."""

import time

import pytest
import yaml

from agent.spool import EVENT, MAGIC, POSITIONS
from auditseal.storage.segments import SegmentLog
from tests.harness import Pipeline, wait_for

TOTAL = 3000


@pytest.fixture
def spooled(tmp_path):
    """3,000 events spooled by an agent whose collector never answered, then the agent stopped."""
    pipe = Pipeline(tmp_path / "pipe", agent_overrides={"spool": {"max_segment_bytes": 65536}})
    config = yaml.safe_load(pipe.setup.agent_config.read_text())
    config["inputs"][0]["read_chunk_bytes"] = 16384  # small appends: many segments
    pipe.setup.agent_config.write_text(yaml.safe_dump(config))
    pipe.start_agent()
    pipe.write_events(0, TOTAL, chunk=100)
    wait_for(lambda: pipe.agent_metric("auditseal_agent_events_spooled_total") >= TOTAL, 30, "events spooled")
    pipe.agent.kill()
    yield pipe
    pipe.stop()


def segments(pipe):
    return sorted((pipe.root / "agent" / "spool" / "segments").glob("*.seg"))


def event_seqs(path):
    log = SegmentLog(path.parent, MAGIC, kinds=frozenset({EVENT, POSITIONS}))
    log.open()
    seqs = [r.seq for r in log.scan_segment(int(path.stem)).records if r.kind == EVENT]
    log.close()
    return seqs


def restart_and_collect(pipe):
    pipe.start_collector()
    started = time.monotonic()
    pipe.start_agent()
    wait_for(pipe.agent_serving, 5, "the agent serving metrics")
    startup = time.monotonic() - started
    return startup


def gap_events(pipe):
    return [d for d in pipe.index_docs() if d["event"]["action"] == "sequence_gap"]


def agent_rows(pipe):
    return [r for r in pipe.index_rows() if r[0] == "demo-agent"]


def test_torn_last_record(spooled):
    last = segments(spooled)[-1]
    last.write_bytes(last.read_bytes()[:-7])
    assert restart_and_collect(spooled) < 5
    wait_for(lambda: len(agent_rows(spooled)) >= TOTAL, 60, "every event")
    time.sleep(1)
    rows = agent_rows(spooled)
    assert sorted(n for _, _, n in rows) == list(range(TOTAL))  # the torn event was read again
    assert gap_events(spooled) == []


def test_flipped_bit_mid_segment(spooled):
    victim = segments(spooled)[1]
    seqs = event_seqs(victim)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x08
    victim.write_bytes(bytes(data))
    survivors = set(event_seqs(victim))
    lost = sorted(set(seqs) - survivors)
    assert len(lost) == 1
    assert restart_and_collect(spooled) < 5
    wait_for(lambda: len(agent_rows(spooled)) >= TOTAL - 1 and gap_events(spooled), 60, "intact events + gap")
    time.sleep(1)
    assert len(agent_rows(spooled)) == TOTAL - 1
    assert sorted(seq for _, seq, _ in agent_rows(spooled)) == [s for s in range(1, TOTAL + 1) if s != lost[0]]
    [gap] = gap_events(spooled)
    assert (gap["labels"]["gap_first"], gap["labels"]["gap_last"]) == (lost[0], lost[0])
    assert gap["labels"]["gap_declared"] is True and gap["labels"]["gap_agent"] == "demo-agent"
    assert spooled.agent_metrics()["auditseal_agent_degraded"] == 1


def test_deleted_segment(spooled):
    assert len(segments(spooled)) >= 5
    victim = segments(spooled)[2]
    seqs = event_seqs(victim)
    victim.unlink()
    assert restart_and_collect(spooled) < 5
    wait_for(lambda: len(agent_rows(spooled)) >= TOTAL - len(seqs) and gap_events(spooled), 60, "intact + gap")
    time.sleep(1)
    assert len(agent_rows(spooled)) == TOTAL - len(seqs)
    [gap] = gap_events(spooled)
    assert (gap["labels"]["gap_first"], gap["labels"]["gap_last"]) == (seqs[0], seqs[-1])
    assert gap["labels"]["gap_declared"] is True


def test_zeroed_ledger(spooled):
    # Some events acknowledged first, so the ledger has content to lose.
    spooled.start_collector()
    spooled.start_agent()
    wait_for(lambda: len(agent_rows(spooled)) >= TOTAL, 60, "first delivery")
    spooled.agent.kill()
    spooled.collector.kill()
    ledger = spooled.root / "agent" / "spool" / "acked.json"
    ledger.write_bytes(b"\x00" * len(ledger.read_bytes()))
    spooled.write_events(TOTAL, 500)
    assert restart_and_collect(spooled) < 5
    wait_for(lambda: len(agent_rows(spooled)) >= TOTAL + 500, 60, "every event")
    time.sleep(1)
    rows = agent_rows(spooled)
    assert sorted(n for _, _, n in rows) == list(range(TOTAL + 500))  # once each
    assert gap_events(spooled) == []
