"""The scaled shape on a real 3-node NATS JetStream cluster (replicas 3): two collectors, one
agent that fails over between them, SIGKILLs of collectors and of the stream leader, a frozen
node, the whole cluster down; every event stored exactly once and every chain verifying."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import orjson
import pytest
import yaml

from tests.harness import assert_exactly_once, read_jsonl, wait_for
from auditseal.dev import nats as dev_nats
from tests.relays import Relay
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
            "--archive", str(fleet.archive_dir),
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
    if not fleet.archive_dir.is_dir():
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


@pytest.mark.parametrize("own_disks", [pytest.param(False, id="one-data-dir"), pytest.param(True, id="a-disk-each")])
def test_two_sealers_for_a_partition_one_waits_and_rolls_forward_when_the_holder_dies_mid_seal(
    tmp_path, nats_cluster, own_disks
):
    """Partitioned (2 journal partitions, an agent hashing to each): each partition's sealer
    is held by one collector while the other waits. The holder of one dies between writing a
    segment and its checkpoint (a crash point, like SIGKILL); the other takes the partition
    over, completes that seal from its intent (kept in the replicated sealer-state bucket, so
    also when the collectors share no disk but the archive) and goes on: every event sealed
    once, no gap, no fork, each partition its own log."""
    fleet = Fleet(tmp_path / "fleet", nats_cluster.urls, partitions=2, agents=2, purge_every=1, own_disks=own_disks)
    try:
        fleet.collectors[0].env = {"AUDITSEAL_CRASHPOINTS": "mid_seal:1"}
        fleet.start_collector(0)
        for role in ("sinks", "sealer-p0", "sealer-p1"):
            wait_lease(fleet, role=role)
        fleet.start_collector(1)
        # The newcomer is handed one sealer; the other stays with collector 0.
        wait_for(
            lambda: {fleet.lease_holder("sealer-p0"), fleet.lease_holder("sealer-p1")} == {0, 1},
            30,
            "the sealers shared out",
        )
        doomed = next(k for k in (0, 1) if fleet.lease_holder(f"sealer-p{k}") == 0)
        status, body = fleet.readyz(1)
        waiting = body["leases"][f"sealer-p{doomed}"]
        assert not waiting["held_here"] and waiting["holder"] == "local", body  # collector 1 waits

        fleet.start_agents()
        for agent in (0, 1):  # demo-agent hashes to partition 0, agent-2 to partition 1
            fleet.write_events(agent, 0, 400)
        wait_for(lambda: not fleet.collectors[0].alive(), 60, "the holder dying mid-seal")
        assert fleet.collectors[0].popen.returncode == 137
        wait_for(lambda: fleet.lease_holder(f"sealer-p{doomed}") == 1, 30, "the partition taken over")
        wait_for(
            lambda: "completed a seal interrupted part-way" in fleet.collectors[1].output(),
            30,
            "the seal rolled forward",
        )
        for agent in (0, 1):
            fleet.write_events(agent, 400, 100)
        if not own_disks:  # (apart, each collector indexes into its own SQLite file)
            by_agent = wait_for(lambda: all_indexed(fleet, 500), 90, "all indexed")
            for rows in by_agent.values():
                assert_exactly_once(rows, range(500))
        wait_for(lambda: archived(fleet) >= 1000, 90, "1000 events sealed")
        time.sleep(2)
        for rows in fleet.archived_rows_by_agent().values():
            assert_exactly_once(rows, range(500))
        report = verify(fleet)
        assert report["events_verified"] == 1000 and not report["findings"], report
        assert report["logs"] == {"acme/0": 500, "acme/0.1": 500}, report["logs"]
        # What every consumer of the fleet (index, alerts, both sealers) passed is purged.
        wait_for(lambda: nats_cluster.stream_first_seq() > 1, 30, "the stream purged")
        # An event of partition 1 is proven from its own log.
        p1_event = event_id_of(fleet.archived_rows_by_agent()["agent-2"][0])
        pubkey = str(fleet.root / "keys" / "auditseal.local.vkey")
        bundle = cli("prove", p1_event, "--archive", str(fleet.archive_dir),
                     "--archive-key", str(fleet.root / "keys" / "archive.key"), "--pubkey", pubkey)  # fmt: skip
        assert orjson.loads(bundle)["log"] == "acme/0.1"
        (tmp_path / "proof.json").write_text(bundle)
        assert "verified" in cli("prove", "--check", str(tmp_path / "proof.json"), "--pubkey", pubkey)
    finally:
        fleet.stop()


def event_id_of(row: tuple) -> str:
    from auditseal.formats.event import event_id

    return event_id(row[0], row[1])


def all_indexed(fleet: Fleet, each: int) -> dict | None:
    """The index rows by agent once every agent has ``each`` events indexed."""
    rows = fleet.rows_by_agent()
    return rows if all(len(r) >= each for r in rows.values()) else None


def missing(rows_by_agent: dict[str, list[tuple]], each: int) -> dict[str, str]:
    """Each agent's sequences 1..``each`` not among its rows, as ranges (a failure's message)."""
    out = {}
    for agent, rows in rows_by_agent.items():
        held = {row[1] for row in rows}
        gaps = [n for n in range(1, each + 1) if n not in held]
        runs = [[gaps[0], gaps[0]]] if gaps else []
        for n in gaps[1:]:
            if n == runs[-1][1] + 1:
                runs[-1][1] = n
            else:
                runs.append([n, n])
        out[agent] = ",".join(f"{a}-{b}" if a != b else str(a) for a, b in runs)
    return out


def cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "auditseal.cli", *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return out.stdout


def test_messages_on_the_journal_that_no_collector_wrote_are_set_aside_and_the_rest_flows(fleet, nats_cluster):
    """Anything with publish rights on the journal's subjects can put bytes there: a message
    with no headers, one with a non-numeric mark, one with our headers and a damaged body,
    one on an agent's own subject. Each is counted, logged, kept in the quarantine file and
    skipped; every sink goes on and every real event is stored once."""
    fleet.start_collector(0)
    fleet.start_collector(1)
    wait_lease(fleet)
    fleet.pipeline.start_agent()
    fleet.pipeline.write_events(0, 200)
    fleet.pipeline.wait_indexed(200)
    agent_subject = "auditseal.journal.p0.demo-agent"
    foreign = [
        ("auditseal.journal.p0.intruder", b"hello", None),
        (
            "auditseal.journal.p0.intruder",
            b"\x01\x00\x00\x00\x01",
            {"Auditseal-Agent": "x", "Auditseal-Last-Seq": "ten"},
        ),
        ("auditseal.journal.p0.intruder", b"\x02garbage", {"Auditseal-Agent": "x", "Auditseal-Last-Seq": "5"}),
        (
            agent_subject,
            b"\x01\x00\x00\x00\x02\x00\x00\x00\x09cut",
            {"Auditseal-Agent": "demo-agent", "Auditseal-Last-Seq": "1"},
        ),
    ]
    for subject, data, headers in foreign:
        nats_cluster.publish(subject, data, headers)
    fleet.pipeline.write_events(200, 300)
    rows = fleet.pipeline.wait_indexed(500, timeout=60)
    time.sleep(2)
    assert_exactly_once(fleet.pipeline.index_rows(), range(500))
    assert len(rows) >= 500
    wait_for(lambda: archived(fleet) >= 500, 60, "500 events sealed")
    assert archived(fleet) == 500
    kept = wait_for(
        lambda: (
            (p := fleet.root / "collector" / "quarantine" / "journal.ndjson").exists()
            and len({e["stream_seq"] for e in read_jsonl(p)}) == 4
            and read_jsonl(p)
        ),
        30,
        "the four messages set aside",
    )
    assert {e["subject"] for e in kept} == {"auditseal.journal.p0.intruder", agent_subject}
    assert all(e["reason"] for e in kept)
    holder = fleet.lease_holder()
    counted = fleet.pipeline.metrics(fleet.admin_urls[holder]).get("auditseal_collector_journal_set_aside_total", 0)
    assert counted >= 3  # (the sinks holder met them; a message on partition 0 also met its sealer elsewhere)
    for proc in fleet.collectors:
        assert proc.alive() and "Traceback" not in proc.output()


def test_chaos_collectors_stream_leader_lease_holders_killed_and_a_node_frozen(tmp_path, nats_cluster):
    """Three agents (over two journal partitions) send all along while, in turn: a collector
    is SIGKILLed mid-batch, the stream leader is SIGKILLed, the sinks lease holder and then a
    sealer's lease holder are SIGKILLed, and one NATS node is frozen for 30 s. At the end every
    event is indexed and archived exactly once (per agent sequence), and every chain verifies."""
    fleet = Fleet(tmp_path / "fleet", nats_cluster.urls, partitions=2, agents=3)
    try:
        for i in range(2):
            fleet.start_collector(i)
        wait_lease(fleet)
        fleet.start_agents()
        each = 2000
        writers = [
            threading.Thread(target=fleet.write_events, args=(a, 0, each, 20), kwargs={"pause": 0.4}) for a in range(3)
        ]  # ~40 s of traffic
        for w in writers:
            w.start()

        def indexed() -> int:
            return len(fleet.pipeline.index_rows())

        # 1. A collector that is taking batches (the agents' first choice) dies mid-batch.
        wait_for(lambda: indexed() > 300, 60, "traffic flowing")
        fleet.collectors[0].kill()
        time.sleep(3)
        fleet.start_collector(0)
        # 2. The stream leader dies; it comes back with its data.
        leader = nats_cluster.stream_leader()
        nats_cluster.signal(leader, signal.SIGKILL)
        time.sleep(4)
        nats_cluster.start(leader)
        # 3. The sinks lease holder dies, then a sealer's; the other collector takes over.
        for role in ("sinks", "sealer-p1"):
            holder = wait_lease(fleet, role=role)
            fleet.collectors[holder].kill()
            wait_for(lambda r=role, h=holder: fleet.lease_holder(r) == 1 - h, 30, f"{role} taken over")
            fleet.start_collector(holder)
        # 4. One node frozen for 30 s, then resumed.
        frozen = (nats_cluster.stream_leader() + 1) % 3
        nats_cluster.signal(frozen, signal.SIGSTOP)
        time.sleep(30)
        nats_cluster.signal(frozen, signal.SIGCONT)
        for w in writers:
            w.join()
        try:
            wait_for(lambda: all_indexed(fleet, each), 120, "every agent's events indexed")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; not indexed: {missing(fleet.rows_by_agent(), each)}") from None
        time.sleep(2)
        for rows in fleet.rows_by_agent().values():
            assert_exactly_once(rows, range(each))
        try:
            wait_for(lambda: archived(fleet) >= 3 * each, 90, "every event sealed")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; not sealed: {missing(fleet.archived_rows_by_agent(), each)}") from None
        for rows in fleet.archived_rows_by_agent().values():
            assert_exactly_once(rows, range(each))  # archived once each, counted per agent sequence
        report = verify(fleet)
        assert report["events_verified"] == 3 * each and not report["findings"], report
        assert sorted(report["logs"]) == ["acme/0", "acme/0.1"]  # agents 1 and 3 hash to 0, agent 2 to 1
    finally:
        fleet.stop()


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


def test_every_collector_indexes_into_elasticsearch_from_one_shared_consumer(tmp_path, nats_cluster, es):
    """With Elasticsearch, every collector runs an index worker on one shared consumer: both
    index, and when one dies with messages in hand — fetched, or stored and not yet
    acknowledged — they are delivered to the other and indexed once (a redelivery is a replay:
    looked up before it is stored)."""
    fleet = Fleet(
        tmp_path / "fleet",
        nats_cluster.urls,
        agents=2,
        index={"type": "elasticsearch", "hosts": [es.url], "request_timeout": 5},
        journal_extra={"fetch_batch": 1},  # a message a fetch: both workers get some
    )
    try:
        for i in range(2):
            fleet.start_collector(i)
        fleet.start_agents()
        writers = [
            threading.Thread(target=fleet.write_events, args=(a, 0, 600, 20), kwargs={"pause": 0.25}) for a in (0, 1)
        ]
        for w in writers:
            w.start()
        wait_for(lambda: fleet.sink_events(0) > 0 and fleet.sink_events(1) > 0, 60, "both collectors indexing")
        fleet.collectors[0].kill()  # whatever it had fetched and not acknowledged goes to collector 1
        # Back, to die right after storing its first batch, before acknowledging it.
        for w in writers:
            w.join()
        fleet.collectors[0].env = {"AUDITSEAL_CRASHPOINTS": "shared_after_store:1"}
        fleet.start_collector(0)
        for agent in (0, 1):
            fleet.write_events(agent, 600, 400, chunk=50)
        wait_for(lambda: not fleet.collectors[0].alive(), 60, "collector 0 dying after a store")
        assert fleet.collectors[0].popen.returncode == 137
        fleet.collectors[0].env = {}
        fleet.start_collector(0)

        def indexed() -> dict[str, list[tuple]] | None:
            rows: dict[str, list[tuple]] = {a: [] for a in fleet.agent_ids}
            for _, _, doc in es.documents():
                if doc["agent"]["id"] in rows:
                    rows[doc["agent"]["id"]].append((doc["agent"]["id"], doc["event"]["sequence"], doc["labels"]["n"]))
            return rows if all(len(r) >= 1000 for r in rows.values()) else None

        rows = wait_for(indexed, 90, "every event in Elasticsearch")

        def replays() -> float:
            total = 0.0
            for url in fleet.admin_urls:
                try:
                    total += fleet.pipeline.metrics(url).get(
                        'auditseal_collector_index_items_total{outcome="replayed_present"}', 0
                    )
                except OSError:
                    pass
            return total

        # The stored, unacknowledged batch comes back after the ack wait and is recognised.
        wait_for(replays, 30, "the redelivered batch looked up")
        time.sleep(2)
        for agent_rows in (indexed() or rows).values():
            assert_exactly_once(agent_rows, range(1000))
    finally:
        fleet.stop()


DEBIAN_NATS = "/usr/sbin/nats-server"  # Debian 12's nats-server 2.9 (scripts/test-deps.sh installs it)


def test_the_fleet_on_debians_nats_server_2_9(tmp_path):
    """The same journal, leases, partitions and sealer-state bucket on the nats-server Debian
    ships (2.9: no stream metadata, no sync_interval, another purge edge): two collectors, two
    agents over two partitions, the sinks holder killed; every event indexed and archived once,
    the stream purged, the chain verified."""
    assert dev_nats.server_version(DEBIAN_NATS)[:2] == (2, 9), "scripts/test-deps.sh installs Debian's nats-server"
    cluster = NatsCluster(tmp_path / "nats", binary=DEBIAN_NATS)
    cluster.start()
    fleet = Fleet(tmp_path / "fleet", cluster.urls, partitions=2, agents=2, purge_every=1)
    try:
        fleet.start_collector(0)
        fleet.start_collector(1)
        holder = wait_lease(fleet)
        fleet.start_agents()
        for agent in (0, 1):
            fleet.write_events(agent, 0, 300)
        wait_for(lambda: all_indexed(fleet, 300), 60, "300 each indexed")
        fleet.collectors[holder].kill()
        for agent in (0, 1):
            fleet.write_events(agent, 300, 200)
        wait_for(lambda: fleet.lease_holder() == 1 - holder, 30, "the sinks lease taken over")
        for rows in wait_for(lambda: all_indexed(fleet, 500), 90, "500 each indexed").values():
            assert_exactly_once(rows, range(500))
        wait_for(lambda: archived(fleet) >= 1000, 90, "1000 events sealed")
        for rows in fleet.archived_rows_by_agent().values():
            assert_exactly_once(rows, range(500))
        report = verify(fleet)
        assert report["events_verified"] == 1000 and report["logs"] == {"acme/0": 500, "acme/0.1": 500}, report
        wait_for(lambda: cluster.stream_first_seq() > 1, 30, "the stream purged")
    finally:
        fleet.stop()
        cluster.stop()


def test_batches_in_flight_through_a_load_balancer_are_stored_in_order_by_whichever_collector(fleet):
    """Three batches in flight, each connection balanced to the next collector: a batch often
    reaches one collector while the batch before it is being stored by the other. It waits
    for it (reading the mark from JetStream), so nothing is refused, lost, doubled or gapped."""
    ports = [
        int(url.rsplit(":", 1)[1])
        for url in yaml.safe_load(fleet.pipeline.setup.agent_config.read_text())["output"]["collectors"]
    ]
    with Relay(ports, first_delay=0.3) as balancer:
        fleet.pipeline.edit_agent_config(
            output={"collectors": [f"https://127.0.0.1:{balancer.port}"], "pipelining": 3},
            batch={"max_age": 0.2, "max_events": 50},
        )
        fleet.start_collector(0)
        fleet.start_collector(1)
        fleet.pipeline.start_agent()
        fleet.pipeline.write_events(0, 1500)
        rows = fleet.pipeline.wait_indexed(1500, timeout=120)
        assert balancer.connections >= 3
    metrics = [fleet.pipeline.metrics(url) for url in fleet.admin_urls]
    assert all(m["auditseal_collector_events_accepted_total"] > 0 for m in metrics)  # both stored some
    assert sum(m["auditseal_collector_batches_held_total"] for m in metrics) >= 1  # and one waited
    assert sum(m['auditseal_collector_rejects_total{reason="too_early"}'] for m in metrics) == 0
    for kind in ("declared", "undeclared"):
        assert sum(m[f'auditseal_collector_sequence_gap_events_total{{kind="{kind}"}}'] for m in metrics) == 0
    assert_exactly_once(rows, range(1500))


def test_an_agent_whose_batches_alternate_between_collectors_leaves_no_false_gap(fleet):
    """One batch at a time, each on a new connection that the balancer gives to the other
    collector: each collector last saw this agent's mark two batches ago. A hole by that old
    mark is not a hole: the mark is read again before any gap is recorded."""
    ports = [
        int(url.rsplit(":", 1)[1])
        for url in yaml.safe_load(fleet.pipeline.setup.agent_config.read_text())["output"]["collectors"]
    ]
    with Relay(ports) as balancer:
        fleet.pipeline.edit_agent_config(
            output={"collectors": [f"https://127.0.0.1:{balancer.port}"], "pipelining": 1}, batch={"max_age": 0.1}
        )
        for path in (fleet.pipeline.setup.collector_config, *sorted(fleet.root.glob("collector-*.yaml"))):
            collector = yaml.safe_load(path.read_text())
            collector["ingest"]["keepalive_timeout"] = 0.2  # so each batch comes on a new connection
            path.write_text(yaml.safe_dump(collector))
        fleet.start_collector(0)
        fleet.start_collector(1)
        fleet.pipeline.start_agent()
        fleet.pipeline.write_events(0, 400, chunk=40, pause=0.6)
        rows = fleet.pipeline.wait_indexed(400, timeout=120)
        assert balancer.connections >= 6
    metrics = [fleet.pipeline.metrics(url) for url in fleet.admin_urls]
    assert all(m["auditseal_collector_events_accepted_total"] > 0 for m in metrics)  # both stored some
    for kind in ("declared", "undeclared"):
        assert sum(m[f'auditseal_collector_sequence_gap_events_total{{kind="{kind}"}}'] for m in metrics) == 0
    assert_exactly_once(rows, range(400))
