import orjson

from agent.spool import EVENT, Spool


def events(spool: Spool):
    out, pos = [], spool.start_position()
    while True:
        found, pos = spool.read(pos)
        if not found:
            return out
        out.extend((r.seq, r.payload) for r in found if r.kind == EVENT)


def test_positions_commit_with_the_events_and_survive_restart(tmp_path):
    spool = Spool(tmp_path, max_segment_bytes=64 * 1024)
    assert spool.open().next_seq == 1
    spool.append([b"a", b"b"], 1, {"app": {"/x.log": {"offset": 10}}})
    spool.append([b"c"], 3, {"app": {"/x.log": {"offset": 15}}})
    spool.close()
    again = Spool(tmp_path, max_segment_bytes=64 * 1024)
    found = again.open()
    assert (found.next_seq, found.positions, found.acked_seq) == (4, {"app": {"/x.log": {"offset": 15}}}, 0)
    assert events(again) == [(1, b"a"), (2, b"b"), (3, b"c")]


def test_a_torn_append_loses_its_events_and_its_positions_together(tmp_path):
    spool = Spool(tmp_path, max_segment_bytes=64 * 1024)
    spool.open()
    spool.append([b"a"], 1, {"app": {"f": {"offset": 5}}})
    spool.append([b"b"], 2, {"app": {"f": {"offset": 9}}})
    spool.close()
    segment = next((tmp_path / "segments").glob("*.seg"))
    segment.write_bytes(segment.read_bytes()[:-3])  # crash before the second fsync completed
    again = Spool(tmp_path, max_segment_bytes=64 * 1024)
    found = again.open()
    # The second line will be read again from offset 5 and numbered 2 again: no loss, no gap.
    assert (found.next_seq, found.positions) == (2, {"app": {"f": {"offset": 5}}})
    assert events(again) == [(1, b"a")]


def test_ack_deletes_only_whole_acknowledged_segments(tmp_path):
    spool = Spool(tmp_path, max_segment_bytes=64 * 1024)
    spool.open()
    seq = 1
    for _ in range(40):
        spool.append([b"x" * 4000], seq, {"app": {"f": {"offset": seq}}})
        seq += 1
    segments = spool.segment_count()
    assert segments > 2
    # Ack up to a record in the middle: only segments wholly before it go.
    pos, acked_pos = spool.start_position(), None
    while True:
        found, pos = spool.read(pos)
        hit = [r for r in found if r.kind == EVENT and r.seq == 20]
        if hit:
            acked_pos = pos.__class__(pos.segment, hit[0].end)
            break
    removed = spool.acknowledge(20, acked_pos)
    assert 0 < removed < segments
    remaining = [s for s, _ in events(spool)]
    assert remaining == list(range(remaining[0], 41)) and 1 < remaining[0] <= 20
    assert orjson.loads((tmp_path / "acked.json").read_bytes()) == {"acked_seq": 20}
    spool.close()
    again = Spool(tmp_path, max_segment_bytes=64 * 1024)
    found = again.open()
    assert (found.acked_seq, found.next_seq, found.positions) == (20, 41, {"app": {"f": {"offset": 40}}})
