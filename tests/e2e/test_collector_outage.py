"""The collector away while events keep coming at 1,000/s: all delivered once after it
returns, in order per agent, and the agent's resident memory stays under 150 MB.
`make test` runs a 30 s outage; `make soak` the full 10 minutes."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.harness import assert_exactly_once, wait_for

RATE = 1000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.parametrize("outage", [30, pytest.param(600, marks=[pytest.mark.slow, pytest.mark.timeout(1800)])])
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


def test_status_reports_backlog_offsets_and_dead_letters(pipeline):
    pipeline.start_agent()  # the collector is away: everything waits in the spool
    pipeline.write_events(0, 500)
    with open(pipeline.watched, "ab") as f:
        f.write(b"not json\n")
    wait_for(lambda: pipeline.agent_metric("auditseal_agent_events_spooled_total") >= 500, 20, "spooled")
    done = subprocess.run(
        [sys.executable, "-m", "agent.main", "status", "--config", str(pipeline.setup.agent_config), "--json"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["spool"]["unacked_events"] == 500 and report["spool"]["acked_seq"] == 0
    assert report["spool"]["oldest_unacked_age_seconds"] is not None
    assert report["inputs"]["app-audit"][str(pipeline.watched)] == pipeline.watched.stat().st_size
    assert report["dead_letters"]["malformed_lines"] == 1 and report["last_ack"] is None
    text = subprocess.run(
        [sys.executable, "-m", "agent.main", "status", "--config", str(pipeline.setup.agent_config)],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    assert "500 unacked events" in text and "1 malformed lines" in text and "last ack:     never" in text
