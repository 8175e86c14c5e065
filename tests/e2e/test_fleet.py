"""The scaled shape on a real 3-node NATS JetStream cluster (replicas 3): two collectors, one
agent that fails over between them, SIGKILLs of collectors and of the stream leader, a frozen
node, the whole cluster down; every event stored exactly once and every chain verifying."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.harness import assert_exactly_once, wait_for
from tests.nats_cluster import Fleet, NatsCluster, wait_lease


@pytest.fixture
def nats_cluster(tmp_path):
    cluster = NatsCluster(tmp_path / "nats")
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def fleet(tmp_path, nats_cluster):
    f = Fleet(tmp_path / "fleet", nats_cluster.urls)
    yield f
    f.stop()


def verify(fleet: Fleet) -> str:
    setup = fleet.pipeline.setup
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditseal.cli",
            "verify",
            "--archive",
            str(setup.archive_dir),
            "--key",
            str(setup.verifier_key),
            "--archive-key",
            str(setup.archive_key),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "FORK" not in out.stdout
    return out.stdout


def test_two_collectors_share_the_journal_and_the_lease_moves(fleet):
    fleet.start_collector(0)
    fleet.start_collector(1)
    holder = wait_lease(fleet)
    fleet.pipeline.start_agent()
    fleet.pipeline.write_events(0, 500)
    fleet.pipeline.wait_indexed(500)
    # The holder dies: the other collector takes the lease and the sinks go on.
    fleet.collectors[holder].kill()
    fleet.pipeline.write_events(500, 500)
    wait_for(lambda: fleet.lease_holder() == 1 - holder, 30, "the lease taken over")
    rows = fleet.pipeline.wait_indexed(1000, timeout=60)
    assert_exactly_once(rows, range(1000))
