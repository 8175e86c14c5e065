"""The sealers' state in a real JetStream key-value bucket (``sinks.sealer_state.KvState``):
a partition's state read by another collector with nothing of the first one's disk, and the
compare-and-set fence — a sealer that lost its lease and still runs cannot extend the chain
its successor now writes."""

from __future__ import annotations

import asyncio
import threading

import nats
import pytest
from nats.js import api

from auditseal.audit.verify import verify_store
from auditseal.formats.note import Signer
from auditseal.storage import archive
from auditseal.storage.segments import Position
from collector.sinks.base import SinkUnavailable
from collector.sinks.sealer import Sealer
from collector.sinks.sealer_state import Fenced, FileState, KvState
from tests.integrity_corpus import journal_batches
from tests.journal_helpers import journal_batch
from tests.nats_cluster import NatsCluster

SIGNER = Signer.generate("auditseal.fence")


@pytest.fixture
def bucket(tmp_path):
    """A one-node JetStream with a fresh bucket, served by a loop on its own thread (the
    sealer calls the bucket from its worker thread, as in the collector)."""
    cluster = NatsCluster(tmp_path / "nats", count=1)
    cluster.start()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def connect():
        nc = await nats.connect(cluster.urls)
        kv = await nc.jetstream().create_key_value(bucket="T_sealer", history=1, storage=api.StorageType.FILE)
        return nc, kv

    nc, kv = asyncio.run_coroutine_threadsafe(connect(), loop).result(20)
    yield kv, loop
    asyncio.run_coroutine_threadsafe(nc.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    cluster.stop()


def sealer(tmp_path, kv, loop, name: str, holding=lambda: True, seed=None) -> Sealer:
    """A sealer with its own (unused) state directory: everything it keeps is in the bucket."""
    return Sealer(
        archive.LocalStore(tmp_path / "archive"),
        tmp_path / name,
        SIGNER,
        SIGNER.name,
        saved=KvState(kv, loop, 0, 10, seed),
        holding=holding,
    )


BATCHES = journal_batches([("acme", 10), ("acme", 7), ("acme", 5), ("acme", 4)])


def batch(i: int):
    return journal_batch(BATCHES[i], Position(1, BATCHES[i][0][1].end))


def check(tmp_path):
    return verify_store(archive.LocalStore(tmp_path / "archive"), [SIGNER.verifier()])


def test_a_successor_with_another_disk_goes_on_from_the_bucket(tmp_path, bucket):
    kv, loop = bucket
    first = sealer(tmp_path, kv, loop, "host-a")
    assert first.open() is None
    first.process(batch(0))
    successor = sealer(tmp_path, kv, loop, "host-b")
    cursor = successor.open()
    assert cursor == batch(0).end and successor.states["acme/0"].size == 10
    successor.process(batch(0))  # a replay of what the first sealed: skipped
    successor.process(batch(1))
    report = check(tmp_path)
    assert report.findings == [] and report.events_verified == 17
    assert not [p for d in ("host-a", "host-b") for p in (tmp_path / d).glob("*.json")]  # nothing on either disk


def test_a_sealer_that_lost_its_lease_cannot_extend_the_chain(tmp_path, bucket):
    kv, loop = bucket
    lease = {"zombie": True, "successor": True}
    zombie = sealer(tmp_path, kv, loop, "host-a", lambda: lease["zombie"])
    zombie.open()
    zombie.process(batch(0))
    # Its lease lapses while it is frozen; the successor takes the partition over.
    lease["zombie"] = False
    successor = sealer(tmp_path, kv, loop, "host-b", lambda: lease["successor"])
    successor.open()
    successor.process(batch(1))
    # The zombie wakes and believes it still holds: its state write is refused.
    lease["zombie"] = True
    with pytest.raises(SinkUnavailable, match="another sealer"):
        zombie.process(batch(1))
    successor.process(batch(2))
    report = check(tmp_path)
    assert report.findings == [] and report.events_verified == 22  # one chain, no fork, no repeat


def test_the_holder_refused_by_a_zombies_write_reloads_and_goes_on(tmp_path, bucket):
    kv, loop = bucket
    holder = sealer(tmp_path, kv, loop, "host-a")
    holder.open()
    holder.process(batch(0))
    zombie = sealer(tmp_path, kv, loop, "host-b", lambda: True)
    zombie.open()
    zombie.process(batch(1))  # (a zombie that slipped one seal in: consistent, on top of the holder's)
    with pytest.raises(SinkUnavailable, match="another sealer"):
        holder.process(batch(2))  # refused: its view is stale; still the lease holder
    holder.process(batch(2))  # reloaded: it goes on from the zombie's seal
    holder.process(batch(3))
    report = check(tmp_path)
    assert report.findings == [] and report.events_verified == 26


def test_not_holding_the_lease_refuses_before_writing_anything(tmp_path, bucket):
    kv, loop = bucket
    standby = sealer(tmp_path, kv, loop, "host-a", lambda: False)
    standby.open()
    with pytest.raises(SinkUnavailable, match="lease lost"):
        standby.process(batch(0))
    assert archive.LocalStore(tmp_path / "archive").logs() == []


def test_a_state_directory_is_imported_into_an_empty_bucket_once(tmp_path, bucket):
    kv, loop = bucket
    local = Sealer(archive.LocalStore(tmp_path / "archive"), tmp_path / "sealer", SIGNER, SIGNER.name)
    local.open()
    local.process(batch(0))
    moved = sealer(tmp_path, kv, loop, "elsewhere", seed=FileState(tmp_path / "sealer"))
    assert moved.open() == batch(0).end
    moved.process(batch(1))
    again = sealer(tmp_path, kv, loop, "third")  # no seed: everything is in the bucket now
    assert again.open() == batch(1).end and again.states["acme/0"].size == 17


def test_kv_state_called_on_its_own_loop_refuses_instead_of_hanging(bucket):
    kv, loop = bucket
    state = KvState(kv, loop, 0, 5)

    async def on_loop():
        with pytest.raises(RuntimeError, match="worker thread"):
            state.load()

    asyncio.run_coroutine_threadsafe(on_loop(), loop).result(10)
    assert issubclass(Fenced, OSError)
