"""The NATS journal's message layout and subject naming (version 1), golden bytes."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.journal import nats_format as fmt


def test_golden_message_bytes():
    data = fmt.encode_message([b'{"agent":"a"}\n{}', b"xy"])
    assert data == bytes.fromhex("010000000200000010") + b'{"agent":"a"}\n{}' + bytes.fromhex("00000002") + b"xy"
    assert fmt.decode_message(data) == [b'{"agent":"a"}\n{}', b"xy"]


@pytest.mark.parametrize(
    "bad",
    [b"", b"\x02\x00\x00\x00\x00", b"\x01\x00\x00\x00\x01\x00\x00\x00\x05ab", b"\x01\x00\x00\x00\x00extra"],
)
def test_damaged_messages_are_refused(bad):
    with pytest.raises(fmt.FormatError):
        fmt.decode_message(bad)


def test_subject_per_agent_with_escaped_token():
    assert fmt.subject("auditseal.journal", "web-01") == "auditseal.journal.p0.web-01"
    assert fmt.subject("auditseal.journal", "collector.c1.alerts") == "auditseal.journal.p0.collector=2ec1=2ealerts"
    assert fmt.msg_id("web-01", 11, 20) == "web-01:11-20"


@given(st.text(min_size=1, max_size=40))
def test_any_agent_id_is_one_reversible_token(agent):
    token = fmt.escape_token(agent)
    assert all(c.isascii() and (c.isalnum() or c in "_-=") for c in token)
    assert fmt.unescape_token(token) == agent


@given(st.text(min_size=1, max_size=20), st.integers(1, 64))
def test_partition_is_stable_and_in_range(agent, partitions):
    p = fmt.partition_of(agent, partitions)
    assert 0 <= p < partitions and p == fmt.partition_of(agent, partitions)


@pytest.mark.parametrize(
    "headers",
    [None, {}, {"Auditseal-Agent": "a"}, {"Auditseal-Last-Seq": "5"}, {"Auditseal-Agent": "a", "Auditseal-Last-Seq": "ten"},
     {"Auditseal-Agent": "a", "Auditseal-Last-Seq": "-1"}, {"Auditseal-Agent": "a", "Auditseal-Last-Seq": "١٢"},
     {"Auditseal-Agent": "", "Auditseal-Last-Seq": "5"}, {"Auditseal-Agent": "a", "Auditseal-Last-Seq": "9" * 21}],
)  # fmt: skip
def test_headers_that_are_not_a_collectors_are_refused(headers):
    with pytest.raises(fmt.FormatError):
        fmt.read_headers(headers)


def test_a_collectors_headers_give_agent_and_mark():
    assert fmt.read_headers({"Auditseal-Agent": "web-1", "Auditseal-Last-Seq": "1200"}) == ("web-1", 1200)


def test_the_partition_count_a_stream_keeps():
    assert fmt.partitions_kept({"auditseal.partitions": "4"}, "auditseal journal; partitions=4") == "4"
    assert fmt.partitions_kept(None, "auditseal journal; partitions=8") == "8"  # a server before 2.10
    assert fmt.partitions_kept({}, None) == "1"  # a stream from before partitions
    assert fmt.partitions_kept(None, "someone's notes") == "1"


@pytest.mark.parametrize(
    "last_consumer, consumer, last_stream, stream, whole, skipped",
    [
        (0, 1, 0, 57, True, False),  # the first after a subscribe: the start may lie purged
        (0, 2, 0, 57, True, True),  # the first delivery never came
        (4, 5, 10, 11, True, False),
        (4, 6, 10, 12, True, True),  # a delivery lost
        (4, 5, 10, 12, True, True),  # the consumer's leader moved past a message
        (4, 5, 10, 12, False, False),  # a partition's consumer: other partitions lie between
        (4, 6, 10, 12, False, True),
        (9, 5, 10, 3, True, False),  # a redelivery numbered as first delivered
    ],
)
def test_a_skipped_delivery_is_told_from_a_partition_or_a_purged_start(
    last_consumer, consumer, last_stream, stream, whole, skipped
):
    reason = fmt.skipped_delivery(last_consumer, consumer, last_stream, stream, whole)
    assert (reason is not None) == skipped, reason


def test_a_hole_before_a_whole_stream_consumers_first_message_is_named_as_loss():
    assert fmt.purged_unread(40, 40, True) is None
    assert fmt.purged_unread(40, 83, True) == "stream messages 40..82 purged before this sink read them"
    assert fmt.purged_unread(40, 83, False) is None  # a partition's: other partitions lie between
