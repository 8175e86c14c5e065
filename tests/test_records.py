import zlib

from hypothesis import given
from hypothesis import strategies as st

from auditseal.formats import records


def test_header_golden_bytes():
    assert records.encode_header(b"ASPL") == bytes.fromhex("4153504c01000000")
    assert records.check_header(bytes.fromhex("4153504c01000000"), b"ASPL") is None
    assert records.check_header(bytes.fromhex("4153504c02000000"), b"ASPL") == "unsupported version 2"
    assert records.check_header(b"ASJL\x01\x00\x00\x00", b"ASPL").startswith("bad magic")


def test_record_golden_bytes():
    encoded = records.encode_record(1, 7, b'{"a":1}')
    assert encoded == bytes.fromhex("000000078361a00c0100000000000000077b2261223a317d")
    # The CRC covers kind, seq and payload, so a changed sequence is caught too.
    assert int.from_bytes(encoded[4:8], "big") == zlib.crc32(b"\x01" + (7).to_bytes(8, "big") + b'{"a":1}')


def decode(data: bytes):
    stop = records.DecodeStop(0, None)
    return list(records.decode_records(data, 0, stop=stop)), stop


@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 2**64 - 1), st.binary(max_size=300)), max_size=20))
def test_roundtrip(items):
    data = b"".join(records.encode_record(*item) for item in items)
    found, stop = decode(data)
    assert [(r.kind, r.seq, r.payload) for r in found] == items
    assert stop.reason is None and stop.offset == len(data)


@given(st.lists(st.binary(min_size=1, max_size=100), min_size=1, max_size=10), st.data())
def test_torn_tail_stops_at_last_complete_record(payloads, data):
    blobs = [records.encode_record(1, i, p) for i, p in enumerate(payloads)]
    whole = b"".join(blobs)
    cut = data.draw(st.integers(0, len(whole) - 1))
    found, stop = decode(whole[:cut])
    complete = 0
    offset = 0
    for blob in blobs:
        if offset + len(blob) > cut:
            break
        complete += 1
        offset += len(blob)
    assert len(found) == complete
    assert stop.offset == offset
    assert (stop.reason is None) == (offset == cut)


def test_flipped_bit_is_a_crc_mismatch():
    good = records.encode_record(1, 1, b"hello") + records.encode_record(1, 2, b"world")
    bad = bytearray(good)
    bad[-2] ^= 0x01
    found, stop = decode(bytes(bad))
    assert [r.payload for r in found] == [b"hello"]
    assert stop.reason == "crc mismatch"
