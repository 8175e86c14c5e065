"""RecentAppends (pure): what a following reader takes from memory, and what it must miss."""

import threading

from auditseal.formats.records import RECORD_OVERHEAD, Record
from auditseal.storage.recent import RecentAppends


def records(segment_offset: int, first_seq: int, payloads: list[bytes]) -> list[Record]:
    out, offset = [], segment_offset
    for i, p in enumerate(payloads):
        end = offset + RECORD_OVERHEAD + len(p)
        out.append(Record(offset, end, 1, first_seq + i, p))
        offset = end
    return out


def test_a_read_at_a_record_boundary_takes_from_there_within_max_bytes():
    recent = RecentAppends(1000)
    held = records(8, 1, [b"a" * 10, b"b" * 10, b"c" * 10, b"d" * 10])
    recent.add(1, held)
    taken, end = recent.take(1, held[1].offset, 20)
    assert taken == held[1:3] and end == held[2].end
    # At least one record, even one larger than max_bytes.
    taken, end = recent.take(1, held[3].offset, 1)
    assert taken == held[3:] and end == held[3].end


def test_anything_not_held_exactly_is_a_miss():
    recent = RecentAppends(1000)
    held = records(8, 1, [b"a" * 10, b"b" * 10])
    recent.add(2, held)
    assert recent.take(2, held[0].offset + 1, 100) is None  # mid-record
    assert recent.take(2, held[-1].end, 100) is None  # past the end: nothing appended yet
    assert recent.take(1, held[0].offset, 100) is None  # another segment
    assert recent.take(3, 8, 100) is None
    assert RecentAppends(1000).take(1, 8, 100) is None


def test_passed_appends_are_dropped_and_the_oldest_go_past_the_bound():
    recent = RecentAppends(50)
    first = records(8, 1, [b"x" * 20])
    second = records(first[-1].end, 2, [b"y" * 20])
    recent.add(1, first)
    recent.add(1, second)
    assert recent.held_bytes == 40
    third = records(8, 3, [b"z" * 20])
    recent.add(2, third)  # past 50: the oldest goes
    assert recent.held_bytes == 40 and recent.take(1, first[0].offset, 100) is None
    assert recent.take(1, second[0].offset, 100) == (second, second[-1].end)
    # Reading segment 2 passes everything in segment 1.
    assert recent.take(2, 8, 100) == (third, third[-1].end)
    assert recent.held_bytes == 20
    assert recent.take(2, third[-1].end, 100) is None and recent.held_bytes == 0


def test_an_append_larger_than_the_bound_is_not_kept():
    recent = RecentAppends(50)
    recent.add(1, records(8, 1, [b"x" * 30, b"y" * 30]))
    assert recent.held_bytes == 0 and recent.take(1, 8, 100) is None
    recent.add(1, [])
    assert recent.held_bytes == 0


def test_a_writer_thread_and_a_reader_see_every_record_once_in_order():
    recent = RecentAppends(10_000)
    appended: list[Record] = []
    done = threading.Event()

    def write():
        offset, seq = 8, 1
        for n in range(2000):
            batch = records(offset, seq, [bytes([n % 251]) * (1 + n % 40)] * (1 + n % 3))
            appended.extend(batch)
            recent.add(1, batch)
            offset, seq = batch[-1].end, seq + len(batch)
        done.set()

    got: list[Record] = []
    writer = threading.Thread(target=write)
    writer.start()
    offset = 8
    while not (done.is_set() and len(got) == len(appended)):
        taken = recent.take(1, offset, 64)
        if taken is None:
            if done.is_set() and len(got) < len(appended):
                # Evicted before the reader came: the disk would serve these.
                nxt = appended[len(got)]
                got.append(nxt)
                offset = nxt.end
            continue
        got.extend(taken[0])
        offset = taken[1]
    writer.join()
    assert got == appended
