import pytest

from auditseal.crypto import HEADER, SegmentCipher, is_encrypted
from auditseal.errors import Rejected

KEY = bytes(range(32))


def test_roundtrip_with_a_fresh_data_key_each_time():
    cipher = SegmentCipher(KEY)
    a, b = cipher.seal(b"secret events", b"acme/0/segments/x"), cipher.seal(b"secret events", b"acme/0/segments/x")
    assert a != b and is_encrypted(a) and a[:5] == b"ASEG\x01" and len(a) == HEADER + len(b"secret events") + 16
    assert b"secret" not in a
    assert cipher.open(a, b"acme/0/segments/x") == b"secret events"


def test_tampering_another_name_or_another_key_fail_loudly():
    cipher = SegmentCipher(KEY)
    blob = bytearray(cipher.seal(b"secret events", b"k"))
    with pytest.raises(Rejected, match="decrypt"):
        cipher.open(bytes(blob), b"another segment key")
    blob[-1] ^= 1
    with pytest.raises(Rejected, match="decrypt"):
        cipher.open(bytes(blob), b"k")
    with pytest.raises(Rejected, match="another archive key"):
        SegmentCipher(bytes(32)).open(cipher.seal(b"x", b"k"), b"k")
