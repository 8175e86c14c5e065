"""The scaled shape on a real 3-node NATS JetStream cluster (replicas 3): two collectors, one
agent that fails over between them, SIGKILLs of collectors and of the stream leader, a frozen
node, the whole cluster down; every event stored exactly once and every chain verifying."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import orjson
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


def verify(fleet: Fleet) -> dict:
    """``auditseal verify --json`` of the fleet's shared archive: passes, and no fork."""
    root = fleet.root
    out = subprocess.run(
        [
            sys.executable, "-m", "auditseal.cli", "verify", "--json",
            "--archive", str(root / "collector" / "archive"),
            "--pubkey", str(root / "keys" / "auditseal.local.vkey"),
            "--archive-key", str(root / "keys" / "archive.key"),
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "FORK" not in out.stdout.upper()
    return orjson.loads(out.stdout)


def archived(fleet: Fleet) -> int:
    """Events the archive holds, verified (0 before the first seal)."""
    if not (fleet.root / "collector" / "archive").is_dir():
        return 0
    return verify(fleet)["events_verified"]


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

    wait_for(lambda: archived(fleet) >= 1000, 60, "1000 events sealed")
    assert archived(fleet) == 1000  # sealed once each: no replayed batch sealed twice


def test_chaos_collectors_stream_leader_lease_holder_killed_and_a_node_frozen(fleet, nats_cluster):
    """Events flow all along while, in turn: a collector is SIGKILLed mid-batch, the stream
    leader is SIGKILLed, the sinks lease holder is SIGKILLed, and one NATS node is frozen for
    30 s. At the end every event is indexed and archived exactly once, and the chain verifies."""
    for i in range(2):
        fleet.start_collector(i)
    wait_lease(fleet)
    fleet.pipeline.start_agent()
    total = 6000
    writer = fleet.pipeline.write_events_in_background(0, total, 50, 0.4)  # ~48 s of traffic

    def indexed() -> int:
        return len(fleet.pipeline.index_rows())

    # 1. A collector that is taking batches (the agent's first choice) dies mid-batch.
    wait_for(lambda: indexed() > 300, 60, "traffic flowing")
    fleet.collectors[0].kill()
    time.sleep(3)
    fleet.start_collector(0)
    # 2. The stream leader dies; it comes back with its data.
    leader = nats_cluster.stream_leader()
    nats_cluster.signal(leader, signal.SIGKILL)
    time.sleep(4)
    nats_cluster.start(leader)
    # 3. The sinks lease holder dies; the other collector takes over within the lease ttl.
    holder = wait_lease(fleet)
    fleet.collectors[holder].kill()
    wait_for(lambda: fleet.lease_holder() == 1 - holder, 30, "the lease taken over")
    fleet.start_collector(holder)
    # 4. One node frozen for 30 s, then resumed.
    frozen = (nats_cluster.stream_leader() + 1) % 3
    nats_cluster.signal(frozen, signal.SIGSTOP)
    time.sleep(30)
    nats_cluster.signal(frozen, signal.SIGCONT)
    writer.join()
    rows = fleet.pipeline.wait_indexed(total, timeout=120)
    time.sleep(2)
    assert_exactly_once(fleet.pipeline.index_rows(), range(total))
    assert len(rows) >= total
    wait_for(lambda: archived(fleet) >= total, 90, f"{total} events sealed")
    assert archived(fleet) == total


@pytest.mark.parametrize("outage", [pytest.param(20, id="20s"), pytest.param(120, id="120s", marks=pytest.mark.slow)])
def test_whole_nats_cluster_down_collectors_refuse_agents_spool_then_all_once(fleet, nats_cluster, outage):
    for i in range(2):
        fleet.start_collector(i)
    wait_lease(fleet)
    fleet.pipeline.start_agent()
    fleet.pipeline.write_events(0, 300)
    fleet.pipeline.wait_indexed(300)
    for i in range(3):
        nats_cluster.signal(i, signal.SIGKILL)
    fleet.pipeline.write_events(300, 700, chunk=50, pause=outage / 20)
    # Collectors refuse (503 with Retry-After) and say why; the agent keeps the events.
    status, body = fleet.readyz(0)
    assert status == 503 and body["journal_failing"], body
    wait_for(
        lambda: fleet.pipeline.collector_metrics().get('auditseal_collector_batches_total{status="503"}', 0) > 0,
        30,
        "a 503 answered",
    )
    assert len(fleet.pipeline.index_rows()) == 300  # nothing journaled while the cluster is down
    assert (
        fleet.pipeline.collector_metrics().get('auditseal_collector_rejects_total{reason="journal_unavailable"}', 0) > 0
    )
    nats_cluster.start()
    rows = fleet.pipeline.wait_indexed(1000, timeout=120)
    time.sleep(2)
    assert_exactly_once(fleet.pipeline.index_rows(), range(1000))
    assert len(rows) >= 1000
    wait_for(lambda: readyz_ok(fleet), 30, "ready again")
    wait_for(lambda: archived(fleet) >= 1000, 60, "1000 events sealed")
    assert archived(fleet) == 1000


def readyz_ok(fleet: Fleet) -> bool:
    try:
        return fleet.readyz(0)[0] == 200
    except OSError:
        return False
