import time

import lz4.frame
import orjson
import pytest

from auditseal.errors import Rejected
from auditseal.formats import wire
from collector.ingest.answers import status_of

KEY = b"k" * 32


def test_signing_string_and_mac_golden():
    message = wire.signing_string("POST", "/v1/batches", "web-1", "k1", 1700000000, "1-2", b"body")
    assert message == (
        b"POST\n/v1/batches\nweb-1\nk1\n1700000000\n1-2\n\n"
        b"230d8358dc8e8890b4c58deeb62912ee2f20357ae92a5cc861b98e68fe31acb5"
    )
    # Both MACs checked independently with `openssl dgst -sha256 -hmac kkkk...`.
    assert wire.sign(KEY, message) == "v1=5f7c28b669efca8efec71dec2a95c0748faa2f4f5942fd2abd83696d7ed0d679"
    with_gaps = wire.signing_string("POST", "/v1/batches", "web-1", "k1", 1700000000, "5-9", b"body", "2-4")
    assert wire.sign(KEY, with_gaps) == "v1=6828afbae48fca0f77483142682483d3c21c5e4b7cb1f9558b93e228d3efbe4e"


def test_declared_gaps_are_signed():
    body = wire.encode_body([b'{"a":1}'])
    headers = wire.build_headers(
        agent="web-1", key_id="k1", key=KEY, timestamp=1, first_seq=5, last_seq=5, body=body, gaps=[(2, 3), (4, 4)]
    )
    assert headers[wire.H_GAPS] == "2-3,4-4"
    header = wire.parse_headers(headers)
    assert header.gaps == ((2, 3), (4, 4))
    wire.verify_signature(KEY, header, body)
    forged = wire.parse_headers({**headers, wire.H_GAPS: "2-4"})
    with pytest.raises(Rejected):
        wire.verify_signature(KEY, forged, body)


def test_a_batch_sent_behind_another_signs_what_it_follows():
    message = wire.signing_string("POST", "/v1/batches", "web-1", "k1", 1700000000, "5-9", b"body", "", 4)
    assert message.endswith(b"acb5\nfollows=4")  # one more field, after the eight of every batch
    # Checked independently: printf '...\nfollows=4' | openssl dgst -sha256 -hmac kkkk...
    assert wire.sign(KEY, message) == "v1=f5951536be66478e2ec036028ec593d08773286f5fe3be7ac7f75f03b80e2fe3"
    body = wire.encode_body([b'{"a":1}'])
    headers = wire.build_headers(
        agent="web-1", key_id="k1", key=KEY, timestamp=1, first_seq=5, last_seq=5, body=body, follows=4
    )
    assert headers[wire.H_FOLLOWS] == "4"
    header = wire.parse_headers(headers)
    assert header.follows == 4
    wire.verify_signature(KEY, header, body)
    # Another value, or the header dropped on the way: the MAC no longer matches.
    for forged in ({**headers, wire.H_FOLLOWS: "3"}, {k: v for k, v in headers.items() if k != wire.H_FOLLOWS}):
        with pytest.raises(Rejected) as bad:
            wire.verify_signature(KEY, wire.parse_headers(forged), body)
        assert bad.value.reason == "bad_mac"
    # A collector that does not know the header computes the MAC without it: 401, never stored.
    with pytest.raises(Rejected):
        wire.verify_signature(KEY, wire.BatchHeader("web-1", "k1", 1, 5, 5, headers[wire.H_SIGNATURE]), body)
    assert wire.H_FOLLOWS not in signed()  # a batch sent alone carries none


def signed(body=b"", first=1, last=2, key=KEY, ts=None):
    return wire.build_headers(
        agent="web-1", key_id="k1", key=key, timestamp=ts or int(time.time()), first_seq=first, last_seq=last, body=body
    )


def test_headers_roundtrip_and_verify():
    body = wire.encode_body([b'{"a":1}', b'{"a":2}'])
    header = wire.parse_headers(signed(body))
    assert (header.agent, header.key_id, header.first_seq, header.last_seq) == ("web-1", "k1", 1, 2)
    wire.verify_signature(KEY, header, body)
    with pytest.raises(Rejected) as bad:
        wire.verify_signature(b"x" * 32, header, body)
    assert (status_of(bad.value.reason), bad.value.reason) == (401, "bad_mac")
    with pytest.raises(Rejected):
        wire.verify_signature(KEY, header, body + b"x")


@pytest.mark.parametrize(
    "change, reason",
    [
        ({wire.H_BATCH: "5-2"}, "bad_headers"),
        ({wire.H_BATCH: "x"}, "bad_headers"),
        ({wire.H_TIMESTAMP: "soon"}, "bad_headers"),
        ({wire.H_VERSION: "2"}, "bad_version"),
        ({"Content-Encoding": "gzip"}, "bad_encoding"),
        ({wire.H_SIGNATURE: ""}, "bad_headers"),
        ({wire.H_GAPS: "4-2"}, "bad_headers"),
        ({wire.H_FOLLOWS: "x"}, "bad_headers"),
        ({wire.H_FOLLOWS: "0"}, "bad_headers"),
        ({wire.H_FOLLOWS: "1"}, "bad_headers"),  # not before the batch 1-2
        ({wire.H_FOLLOWS: "2"}, "bad_headers"),
    ],
)
def test_malformed_headers_are_400(change, reason):
    headers = {**signed(), **change}
    with pytest.raises(Rejected) as bad:
        wire.parse_headers(headers)
    assert (status_of(bad.value.reason), bad.value.reason) == (400, reason)


def test_timestamp_outside_the_window_is_401():
    limits = wire.Limits(max_skew_seconds=300)
    header = wire.parse_headers(signed(ts=1_000_000))
    wire.check_skew(header, 1_000_299, limits)
    with pytest.raises(Rejected) as bad:
        wire.check_skew(header, 1_000_301, limits)
    assert status_of(bad.value.reason) == 401


def test_decompress_caps_the_ratio():
    limits = wire.Limits(max_ratio=100)
    bomb = lz4.frame.compress(b" " * 20_000_000)  # past the floor, ratio ~250
    with pytest.raises(Rejected) as bad:
        wire.decompress(bomb, limits)
    assert (status_of(bad.value.reason), bad.value.reason) == (413, "decompressed_too_large")
    # Below the floor (an agent's largest batch) a repetitive body is no bomb, whatever its ratio.
    repetitive = b'{"message":"' + b"a" * 200_000 + b'"}'
    assert wire.decompress(lz4.frame.compress(repetitive), limits) == repetitive
    fine = lz4.frame.compress(orjson.dumps({"n": list(range(50))}))
    assert orjson.loads(wire.decompress(fine, limits)) == {"n": list(range(50))}


def test_decompress_caps_the_absolute_size():
    limits = wire.Limits(max_decompressed_bytes=1000, max_ratio=1000, ratio_floor_bytes=0)
    with pytest.raises(Rejected) as bad:
        wire.decompress(lz4.frame.compress(b"a" * 2000), limits)
    assert status_of(bad.value.reason) == 413


@pytest.mark.parametrize("body", [b"not lz4 at all", lz4.frame.compress(b"x" * 1000)[:-8]])
def test_garbage_or_truncated_frames_are_400(body):
    with pytest.raises(Rejected) as bad:
        wire.decompress(body, wire.Limits())
    assert status_of(bad.value.reason) == 400


def test_split_events_limits_and_errors():
    assert wire.split_events(b'{"a":1}\n{"b":2}\n', wire.Limits()) == ([b'{"a":1}', b'{"b":2}'], [{"a": 1}, {"b": 2}])
    with pytest.raises(Rejected) as bad:
        wire.split_events(b'{"a":1}\n{"b":2}\n', wire.Limits(max_events=1))
    assert status_of(bad.value.reason) == 413
    # An event past max_event_bytes is parsed; admission refuses it alone (test_admit).
    assert len(wire.split_events(b'{"a":"' + b"x" * 300 + b'"}\n', wire.Limits(max_event_bytes=256))[0]) == 1
    for body in (b"{nope}\n", b"[1,2]\n"):
        with pytest.raises(Rejected) as bad:
            wire.split_events(body, wire.Limits())
        assert status_of(bad.value.reason) == 400
