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
    removed = spool.acknowledge(20, acked_pos, {"next_seq": 21, "inputs": {"app": {"f": {"offset": 20}}}})
    assert 0 < removed < segments
    remaining = [s for s, _ in events(spool)]
    assert remaining == list(range(remaining[0], 41)) and 1 < remaining[0] <= 20
    assert orjson.loads((tmp_path / "acked.json").read_bytes()) == {
        "version": 1,
        "acked_seq": 20,
        "resume": {"next_seq": 21, "inputs": {"app": {"f": {"offset": 20}}}},
        "gaps": [],
    }
    spool.close()
    again = Spool(tmp_path, max_segment_bytes=64 * 1024)
    found = again.open()
    assert (found.acked_seq, found.next_seq, found.positions) == (20, 41, {"app": {"f": {"offset": 40}}})


def filled(tmp_path, count=30, payload=b"x" * 3000, per_append=1):
    spool = Spool(tmp_path, max_segment_bytes=64 * 1024)
    spool.open()
    for seq in range(1, count + 1):
        spool.append([payload + str(seq).encode()], seq, {"app": {"f": {"offset": seq * 10}}})
    spool.close()
    return sorted((tmp_path / "segments").glob("*.seg"))


def reopen(tmp_path):
    spool = Spool(tmp_path, max_segment_bytes=64 * 1024)
    return spool, spool.open()


def test_a_flipped_bit_loses_one_event_which_becomes_a_declared_gap(tmp_path):
    segments = filled(tmp_path)
    data = bytearray(segments[0].read_bytes())
    data[8 + 17 + 1500] ^= 0x04  # inside the first event's payload
    segments[0].write_bytes(bytes(data))
    spool, found = reopen(tmp_path)
    assert found.lost == [(1, 1)] and found.next_seq == 31
    assert any("unreadable (crc mismatch)" in d for d in found.degraded)
    assert [s for s, _ in events(spool)] == list(range(2, 31))
    assert spool.gaps_before(5) == [(1, 1)]
    # Declared once: a second restart does not declare it again, the ledger remembers it.
    spool.close()
    spool, again = reopen(tmp_path)
    assert again.lost == [] and spool.gaps == [(1, 1)]


def test_a_deleted_middle_segment_becomes_a_declared_gap(tmp_path):
    segments = filled(tmp_path, count=60)
    assert len(segments) >= 3
    victim = segments[1]
    spool, _ = reopen(tmp_path)
    lost_seqs = [r.seq for r in spool.log.segment_records(int(victim.stem)) if r.kind == EVENT]
    spool.close()
    victim.unlink()
    spool, found = reopen(tmp_path)
    assert found.lost == [(lost_seqs[0], lost_seqs[-1])] and found.next_seq == 61
    assert any("segments missing" in d for d in found.degraded)


def test_a_zeroed_ledger_is_rebuilt_and_start_does_not_fail(tmp_path):
    filled(tmp_path)
    (tmp_path / "acked.json").write_bytes(b"\x00" * 64)
    spool, found = reopen(tmp_path)
    assert found.acked_seq == 0 and found.next_seq == 31 and found.lost == []
    assert any("ledger unreadable" in d for d in found.degraded)


def test_when_the_newest_segment_is_gone_positions_come_from_the_ledger(tmp_path):
    segments = filled(tmp_path)
    spool, _ = reopen(tmp_path)
    # Everything up to 25 was acknowledged; the ledger's resume point covers it.
    spool.acknowledge(25, spool.log.first_position(), {"next_seq": 26, "inputs": {"app": {"f": {"offset": 250}}}})
    spool.close()
    segments[-1].unlink()
    spool, found = reopen(tmp_path)
    newest_left = max(s for s, _ in events(spool))
    if newest_left >= 26:
        assert found.next_seq == newest_left + 1
    else:
        # Lines after offset 250 are read again and numbered from 26 again: same lines, same numbers.
        assert (found.next_seq, found.positions) == (26, {"app": {"f": {"offset": 250}}})
        assert found.lost == []
