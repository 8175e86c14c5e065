"""The agent's state on a 1 MiB filesystem: it fills up while the collector is away; the
agent waits (no corruption, no loss), and resumes by itself when room returns."""

import subprocess
import time

import pytest

from tests.harness import Pipeline, assert_exactly_once, wait_for

TOTAL = 6000


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    # A real, tiny filesystem (root is needed; CI runs as root like this machine).
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_pauses_and_resumes_without_loss_or_corruption(tmp_path, small_disk):
    pipe = Pipeline(
        tmp_path / "pipe",
        agent_overrides={
            "agent": {"id": "demo-agent", "state_dir": str(small_disk / "agent")},
            "spool": {"max_segment_bytes": 65536},
        },
    )
    try:
        pipe.start_agent()  # no collector yet: everything stays in the spool
        pipe.write_events(0, TOTAL, chunk=200)
        wait_for(lambda: pipe.agent_metric("auditseal_agent_spool_write_errors_total") > 0, 30, "disk full")
        assert pipe.agent_metric("auditseal_agent_spool_blocked") == 1
        spooled = pipe.agent_metric("auditseal_agent_events_spooled_total")
        assert 0 < spooled < TOTAL
        time.sleep(1)
        assert pipe.agent.alive()
        assert pipe.agent_metric("auditseal_agent_events_spooled_total") == spooled  # waiting, not dropping
        # Room returns two ways: the filesystem grows, and acknowledgements free segments.
        subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
        pipe.start_collector()
        pipe.wait_indexed(TOTAL, timeout=90)
        time.sleep(1)
        assert_exactly_once(pipe.index_rows(), range(TOTAL))
        assert pipe.agent_metric("auditseal_agent_spool_blocked") == 0
        pipe.agent.stop()
        # A restart finds an undamaged spool: nothing to repair.
        pipe.start_agent()
        wait_for(pipe.agent_serving, 10, "the restarted agent")
        assert pipe.agent_metric("auditseal_agent_degraded") == 0
        assert "spool damage repaired" not in pipe.agent.output()
    finally:
        pipe.stop()
