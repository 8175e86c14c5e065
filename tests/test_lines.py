from hypothesis import given
from hypothesis import strategies as st

from agent.lines import split_lines


def test_complete_lines_and_partial_tail():
    split = split_lines(b"a\nbb\r\n\nccc", 100, 1000)
    assert [(l.data, l.end) for l in split.lines] == [(b"a", 102), (b"bb", 106)]
    assert split.consumed == 7 and not split.skipping  # the blank line is consumed, "ccc" waits


def test_long_line_is_cut_and_its_rest_skipped():
    split = split_lines(b"x" * 20, 0, 8)
    assert [(l.data, l.cut) for l in split.lines] == [(b"x" * 8, True)]
    assert split.consumed == 20 and split.skipping
    split = split_lines(b"yyy\nok\n", 20, 8, skipping=True)
    assert [l.data for l in split.lines] == [b"ok"]
    assert split.consumed == 7 and not split.skipping


def test_complete_long_line_is_cut():
    split = split_lines(b"x" * 20 + b"\nok\n", 0, 8)
    assert [(l.data, l.cut, l.end) for l in split.lines] == [(b"x" * 8, True, 21), (b"ok", False, 24)]


line = st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))


@given(st.lists(line, max_size=30), st.lists(st.integers(1, 50), min_size=1, max_size=40))
def test_any_chunking_yields_the_same_lines(lines, sizes):
    """Reading a file in chunks of any sizes yields every non-empty line once, in order."""
    data = b"".join(l + b"\n" for l in lines)
    offset, got, i = 0, [], 0
    while offset < len(data):
        size = sizes[i % len(sizes)]
        i += 1
        split = split_lines(data[offset : offset + size], offset, 1000)
        got.extend(l.data for l in split.lines)
        if split.consumed == 0:
            sizes = [s + 50 for s in sizes]  # the caller reads more when a line is incomplete
        offset += split.consumed
    assert got == [l for l in lines if l]
