"""The collector away while events keep coming at 1,000/s: all delivered once after it
returns, in order per agent, and the agent's resident memory stays under 150 MB.
`make test` runs a 30 s outage; `make soak` the full 10 minutes."""

import threading
import time
from pathlib import Path

import pytest

from tests.harness import assert_exactly_once

RATE = 1000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.parametrize("outage", [30, pytest.param(600, marks=pytest.mark.slow)])
def test_collector_outage_under_load(pipeline, outage):
    total = RATE * (outage + 10)
    pipeline.start_collector()
    pipeline.start_agent()
    writer = threading.Thread(target=pipeline.write_events, args=(0, total, RATE // 10, 0.1))
    writer.start()
    peak, sampling = [0.0], [True]

    def sample():
        while sampling[0]:
            if pipeline.agent.alive():
                peak[0] = max(peak[0], rss_mb(pipeline.agent.pid))
            time.sleep(0.5)
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        time.sleep(3)
        pipeline.collector.kill()
        time.sleep(outage)
        assert pipeline.agent.alive()
        assert pipeline.agent_metric("auditseal_agent_spool_unacked_events") >= 0
        pipeline.start_collector()
        writer.join()
        pipeline.wait_indexed(total, timeout=120 + outage // 5)
        time.sleep(1)
    finally:
        sampling[0] = False
        sampler.join()
        writer.join()
    rows = pipeline.index_rows()
    assert_exactly_once(rows, range(total))
    by_seq = [n for _, _, n in sorted(rows, key=lambda r: r[1])]
    assert by_seq == list(range(total)), "events out of order for the agent"
    assert peak[0] < 150, f"agent RSS peaked at {peak[0]:.0f} MB"
