import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.framing import Frame, Framer, FramingError


def test_octet_counting_and_lf_framing_mix_per_message():
    f = Framer(100)
    assert f.feed(b"11 <13>hello\nx") == [Frame(b"<13>hello\nx")]
    assert f.feed(b"<13>lf framed\r\n<13>two\n5 <1>ab") == [Frame(b"<13>lf framed"), Frame(b"<13>two"), Frame(b"<1>ab")]


def test_oversized_messages_are_cut_flagged_and_the_stream_goes_on():
    f = Framer(10)
    assert f.feed(b"20 <13>67890") == []
    assert f.feed(b"12345678901") == [Frame(b"<13>678901", cut=True)]
    assert f.feed(b"4 <1>a") == [Frame(b"<1>a")]  # the rest of the 20 bytes was skipped
    assert f.feed(b"<13>" + b"x" * 30 + b"\n<13>ok\n") == [Frame(b"<13>xxxxxx", cut=True), Frame(b"<13>ok")]


def test_a_malformed_octet_count_is_an_error():
    with pytest.raises(FramingError):
        Framer(100).feed(b"123456789012345 ")


@given(st.lists(st.binary(min_size=1, max_size=50), min_size=1, max_size=20), st.data())
def test_octet_counted_frames_survive_any_split(messages, data):
    stream = b"".join(str(len(m)).encode() + b" " + m for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    f, got, last = Framer(100), [], 0
    for cut in cuts + [len(stream)]:
        got += [fr.data for fr in f.feed(stream[last:cut])]
        last = cut
    assert got == messages
