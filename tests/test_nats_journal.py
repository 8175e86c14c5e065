"""Start-up checks of the NATS journal against a real JetStream: a stream set up otherwise than
the configuration asks is refused with a message that says what to do (``Halt``, exit 2),
never journaled on."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest
from nats.js import api

from auditseal.errors import Halt
from collector.config import NatsJournalConfig
from collector.journal.nats import NatsJournal
from tests.nats_cluster import NatsCluster


@pytest.fixture
def node(tmp_path):
    cluster = NatsCluster(tmp_path / "nats", count=1)
    cluster.start()
    yield cluster
    cluster.stop()


# JetStream reserves a stream's max_bytes up front and a server may store 75% of its free disk:
# the 16 GiB default would make these tests depend on the machine's free disk.
TEST_MAX_BYTES = 64 * 1024 * 1024


def config(node, **extra) -> NatsJournalConfig:
    fields = {"replicas": 1, "start_timeout": 10, "max_bytes": TEST_MAX_BYTES, **extra}
    return NatsJournalConfig(type="nats", servers=node.urls, **fields)


async def connect(cfg) -> None:
    journal = NatsJournal(cfg, "test")
    try:
        await journal.connect()
    finally:
        await journal.aclose()


async def add_stream(node, **stream) -> None:
    nc = await nats.connect(node.urls)
    try:
        await nc.jetstream().add_stream(api.StreamConfig(**stream))
    finally:
        await nc.close()


def test_a_stream_with_fewer_replicas_than_configured_is_refused(node):
    asyncio.run(connect(config(node)))  # creates AUDITSEAL with 1 replica
    with pytest.raises(Halt, match="keeps 1 replica.*asks for 3"):
        asyncio.run(connect(config(node, replicas=3)))


def test_a_bound_larger_than_the_servers_storage_is_refused_at_once_saying_what_to_lower(node):
    started = time.monotonic()
    with pytest.raises(Halt, match=r"cannot reserve max_bytes 1125899906842624 .*lower journal\.max_bytes"):
        asyncio.run(connect(config(node, max_bytes=2**50, start_timeout=30)))
    assert time.monotonic() - started < 10, "no room is not worth retrying until start_timeout"
    asyncio.run(connect(config(node)))  # nothing half-made: a bound that fits creates the stream


def test_a_stream_created_with_other_partitions_is_refused(node):
    asyncio.run(connect(config(node, partitions=2)))
    asyncio.run(connect(config(node, partitions=2)))  # the same again: fine
    with pytest.raises(Halt, match="created with 2 partition.*asks for 4.*fixed"):
        asyncio.run(connect(config(node, partitions=4)))


def test_a_stream_from_before_partitions_counts_as_one(node):
    asyncio.run(add_stream(node, name="AUDITSEAL", subjects=["auditseal.journal.>"], storage=api.StorageType.FILE))
    asyncio.run(connect(config(node)))
    with pytest.raises(Halt, match="created with 1 partition"):
        asyncio.run(connect(config(node, partitions=2)))


def test_a_memory_stream_or_one_on_other_subjects_is_refused(node):
    asyncio.run(add_stream(node, name="MEM", subjects=["mem.journal.>"], storage=api.StorageType.MEMORY))
    with pytest.raises(Halt, match="kept in memory"):
        asyncio.run(connect(config(node, stream="MEM", subject_prefix="mem.journal")))
    asyncio.run(add_stream(node, name="OTHER", subjects=["elsewhere.>"], storage=api.StorageType.FILE))
    with pytest.raises(Halt, match="does not take subjects"):
        asyncio.run(connect(config(node, stream="OTHER", subject_prefix="other.journal")))


def test_an_unreachable_cluster_is_a_clear_error_after_the_start_timeout(tmp_path):
    from tests.harness import free_port

    cfg = NatsJournalConfig(type="nats", servers=[f"nats://127.0.0.1:{free_port()}"], replicas=1, start_timeout=2)
    with pytest.raises(Halt, match=r"no NATS server of nats://127\.0\.0\.1:\d+ answered in 2 s"):
        asyncio.run(connect(cfg))


def test_start_up_calls_are_retried_while_jetstream_cannot_answer_yet_then_halt_naming_them():
    """A just-formed cluster may time out placing a bucket (the lease bucket, the sealers'):
    retried until start_timeout, then a clear ``Halt``, never a traceback."""
    from nats.errors import TimeoutError as NatsTimeout

    journal = NatsJournal(
        NatsJournalConfig(type="nats", servers=["nats://127.0.0.1:1"], replicas=1, start_timeout=1), "test"
    )
    calls = []

    async def slow_then_ready():
        calls.append(1)
        if len(calls) < 3:
            raise NatsTimeout
        return "bucket"

    assert asyncio.run(journal.until_started("make the lease bucket", slow_then_ready)) == "bucket"
    assert len(calls) == 3

    async def never():
        raise NatsTimeout

    with pytest.raises(Halt, match=r"did not make the lease bucket in 1 s: TimeoutError"):
        asyncio.run(journal.until_started("make the lease bucket", never))
