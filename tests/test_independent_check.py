"""An independent check of a real (encrypted, multi-tenant) archive: every checkpoint is
verified by a small signed-note verifier written here from the C2SP spec, and every signed
root is recomputed from the decrypted leaves by a Merkle Tree Hash written here from RFC 9162
§2.1.1 — neither uses the project's ``note`` or ``merkle`` modules — and both agree with the
project's own verifier.

C2SP signed-note: the note is text ending in a newline, a blank line, then signature lines
``— <name> <base64(key hash[4] ‖ signature)>``; an Ed25519 key hash is the first 4 bytes of
SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key); the signature covers the text. A verifier key is
``<name>+<hex key hash>+<base64(0x01 ‖ public key)>``.
"""

import base64
import hashlib
import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auditseal.audit.verify import verify_store
from auditseal.formats.crypto import SegmentCipher
from auditseal.formats.note import Verifier
from auditseal.storage import archive
from tests import integrity_corpus


def spec_open(note: str, vkey: str) -> str:
    """The note's text if ``vkey`` signed it, else AssertionError."""
    name, key_hash_hex, key_b64 = vkey.strip().split("+", 2)
    key = base64.b64decode(key_b64)
    assert key[0] == 0x01 and len(key) == 33
    key_hash = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
    assert key_hash.hex() == key_hash_hex
    text, sep, signatures = note.rpartition("\n\n")
    assert sep and note.endswith("\n")
    text += "\n"
    good = False
    for line in signatures.rstrip("\n").split("\n"):
        dash, signer, blob = line.split(" ")
        assert dash == "\u2014"
        raw = base64.b64decode(blob, validate=True)
        if signer == name and raw[:4] == key_hash:
            try:
                Ed25519PublicKey.from_public_bytes(key[1:]).verify(raw[4:], text.encode())
                good = True
            except InvalidSignature:
                raise AssertionError("signature does not verify") from None
    assert good, "no signature by the key"
    return text


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 Merkle Tree Hash, by its recursive definition."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def test_an_independent_verifier_agrees_with_the_project_on_a_real_archive(tmp_path):
    key = tmp_path / "archive.key"
    key.write_text(os.urandom(32).hex())
    cipher = SegmentCipher.load(key)
    root = tmp_path / "corpus"
    integrity_corpus.build(
        root, [("acme", 700), ("globex", 300), ("acme", 1000), ("acme", 1), ("globex", 64)], cipher=cipher
    )
    vkey = (root / "verifier.vkey").read_text()
    store = archive.LocalStore(root / "archive")
    checked = 0
    for tenant, partition in archive.list_logs(store):
        name = f"{tenant}/{partition}"
        leaves: list[bytes] = []
        keys = store.list(name)
        for seg_key in sorted(k for k in keys if archive.SEGMENT_RE.match(k[len(name) + 1 :])):
            leaves.extend(archive.decode_segment(store.get(seg_key), cipher, seg_key))
        for ck_key in sorted(k for k in keys if archive.CHECKPOINT_RE.match(k[len(name) + 1 :])):
            text = spec_open(store.get(ck_key).decode(), vkey)
            origin, size, root_b64 = text.split("\n")[:3]
            assert origin == f"{vkey.split('+')[0]}/{name}"
            assert base64.b64decode(root_b64) == mth(leaves[: int(size)]), f"{ck_key}: root differs"
            checked += 1
        assert leaves, name
    assert checked == 5
    report = verify_store(store, [Verifier.parse(vkey)], cipher=cipher)
    assert report.findings == [] and report.events_verified == 2065
