"""A sink's durable consumer on a real JetStream: a delivery the consumer made that never
reached the reader (a pull answer lost when a node froze or the consumer's leader moved) is not
passed over — the reader reads again from the sink's cursor, so every message reaches the sink
once. Here another client takes the delivery, as the lost answer would. And the fleet's purge:
it keeps what a consumer has not read even while the consumer reports nothing left, and a
whole-stream sink that meets messages purged before it read them says so."""

from __future__ import annotations

import asyncio

import nats
import pytest

from collector.journal import nats_format as fmt
from collector.journal.nats import NatsJournal
from collector.journal.nats_consumers import seq_cursor
from tests import test_nats_journal
from tests.test_nats_journal import config

node = test_nats_journal.node  # the fixture: a one-node JetStream


class Count:
    value = 0

    def inc(self) -> None:
        self.value += 1


async def read_with_a_stolen_delivery(node, partitions: int) -> tuple[list[bytes], int]:
    cfg = config(node, partitions=partitions, fetch_batch=2, fetch_wait=0.5)
    journal = NatsJournal(cfg, "test")
    journal.skipped_deliveries = Count()
    await journal.connect()
    agent = "agent-a"
    subject = fmt.subject(cfg.subject_prefix, agent, partitions)
    nc = await nats.connect(node.urls)
    try:
        js = nc.jetstream()
        for n in range(1, 9):
            headers = {fmt.H_AGENT: agent, fmt.H_LAST: str(n)}
            await js.publish(subject, fmt.encode_message([b"event-%d" % n]), stream=cfg.stream, headers=headers)
        reader = journal.reader("index", None if partitions == 1 else fmt.partition_of(agent, partitions))
        got: list[bytes] = []
        entries, cursor = await reader.read(seq_cursor(1))
        got += [e.payload for e in entries]
        assert got == [b"event-1", b"event-2"]
        # Another client takes the consumer's next delivery and never acknowledges it (the
        # consumer waits an hour before delivering it again).
        thief = await js.pull_subscribe_bind(durable=f"{cfg.stream}_index", stream=cfg.stream)
        stolen = await thief.fetch(1, timeout=5)
        assert [m.metadata.sequence.stream for m in stolen] == [3]
        for _ in range(20):
            if cursor.at[0] > 8:
                break
            entries, cursor = await reader.read(cursor)
            got += [e.payload for e in entries]
        return got, journal.skipped_deliveries.value
    finally:
        await nc.close()
        await journal.aclose()


@pytest.mark.parametrize("partitions", [1, 2], ids=["whole-stream", "a-partition"])
def test_a_delivery_that_never_reached_the_reader_is_read_again_not_passed(node, partitions):
    got, rereads = asyncio.run(read_with_a_stolen_delivery(node, partitions))
    assert got == [b"event-%d" % n for n in range(1, 9)]  # each once, in order, none passed
    assert rereads == 1


async def purge_floors(node) -> dict[str, int]:
    """Two partitions; index and the p1 sealer read and acknowledge everything; the p0 sealer
    reads its first message only, then everything."""
    cfg = config(node, partitions=2, fetch_batch=64, fetch_wait=0.5)
    journal = NatsJournal(cfg, "test")
    await journal.connect()
    journal.consumers = ["index", "archive", "archive-p1"]
    p0 = next(a for a in (f"agent-{i}" for i in range(50)) if fmt.partition_of(a, 2) == 0)
    p1 = next(a for a in (f"agent-{i}" for i in range(50)) if fmt.partition_of(a, 2) == 1)
    nc = await nats.connect(node.urls)
    floors: dict[str, int] = {}
    try:
        js = nc.jetstream()
        for n in range(1, 7):  # stream sequences 1..12: p0 on odd, p1 on even
            for agent in (p0, p1):
                headers = {fmt.H_AGENT: agent, fmt.H_LAST: str(n)}
                subject = fmt.subject(cfg.subject_prefix, agent, 2)
                await js.publish(subject, fmt.encode_message([b"e"]), stream=cfg.stream, headers=headers)

        async def read_all(name: str, partition: int | None, limit: int = 99) -> None:
            reader, cursor = journal.reader(name, partition), seq_cursor(1)
            for _ in range(10):
                entries, nxt = await reader.read(cursor)
                if not entries or nxt.at[0] > limit:
                    break
                journal.release(name, nxt)
                cursor = nxt
            await asyncio.sleep(0.5)  # the acks (sent in the background)

        await read_all("index", None)
        await read_all("archive-p1", 1)
        await journal.reader("archive", 0).read(seq_cursor(1))  # delivered, not acknowledged
        floors["p0 sealer behind"] = await journal.purge_floor()
        real_info = journal.js.consumer_info

        async def transient(stream, durable, *args, **kwargs):
            info = await real_info(stream, durable, *args, **kwargs)
            if durable.endswith("_archive"):  # as measured while it was being recreated
                info.num_pending, info.num_ack_pending, info.ack_floor.stream_seq = 0, 0, 0
            return info

        journal.js.consumer_info = transient
        floors["p0 sealer reporting nothing left"] = await journal.purge_floor()
        journal.js.consumer_info = real_info
        await read_all("archive", 0)
        floors["all passed"] = await journal.purge_floor()
        return floors
    finally:
        await nc.close()
        await journal.aclose()


def test_a_purge_keeps_what_a_consumer_has_not_read_even_when_it_reports_nothing_left(node):
    floors = asyncio.run(purge_floors(node))
    assert floors == {
        "p0 sealer behind": 1,  # its first message delivered, not acknowledged
        "p0 sealer reporting nothing left": 1,  # the stream still holds its messages from 1
        "all passed": 13,  # the p0 sealer, idle at its last message (11), holds nothing back
    }


async def read_after_a_purge_past_the_cursor(node) -> tuple[list[bytes], int]:
    cfg = config(node, fetch_batch=8, fetch_wait=0.5)
    journal = NatsJournal(cfg, "test")
    journal.purged_unread = Count()
    await journal.connect()
    nc = await nats.connect(node.urls)
    try:
        js = nc.jetstream()
        for n in range(1, 7):
            headers = {fmt.H_AGENT: "agent-a", fmt.H_LAST: str(n)}
            subject = fmt.subject(cfg.subject_prefix, "agent-a")
            await js.publish(subject, fmt.encode_message([b"event-%d" % n]), stream=cfg.stream, headers=headers)
        await js.purge_stream(cfg.stream, seq=4)  # 1..3 gone before the index read them
        entries, _ = await journal.reader("index").read(seq_cursor(1))
        return [e.payload for e in entries], journal.purged_unread.value
    finally:
        await nc.close()
        await journal.aclose()


def test_messages_purged_before_a_sink_read_them_are_named_and_counted(node):
    got, lost = asyncio.run(read_after_a_purge_past_the_cursor(node))
    assert got == [b"event-4", b"event-5", b"event-6"]
    assert lost == 1
