"""AES-256-GCM envelope encryption for archive segments at rest (the embedded default's
local archive), so a stolen disk reveals nothing.

Encrypted segment layout, version 1::

    magic       4 bytes   b"ASEG"
    version     1 byte    0x01
    key id      8 bytes   SHA-256(archive key)[:8], which key wrapped the data key
    wrap nonce  12 bytes
    wrapped DEK 48 bytes  AES-256-GCM(archive key, wrap nonce, 32-byte data key, aad=b"auditseal-dek-v1")
    nonce       12 bytes
    ciphertext  rest      AES-256-GCM(data key, nonce, plaintext, aad=segment key)

Each segment has its own random data key (envelope). The checkpoint's SHA-256 covers these
stored bytes, so anyone can check a segment against its signed checkpoint without the key;
recomputing its leaves needs the key. Rotation therefore never rewrites a stored segment
(re-wrapping its data key would change the signed bytes): the key file holds one key per line,
hex (32 random bytes each), the first encrypts new segments and every line can read — each
segment names its key by id. ``auditseal keys rotate-archive-key --file F`` puts a new key
first and keeps the older ones; restart the collector to use it.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from auditseal.errors import Halt, Rejected

MAGIC = b"ASEG"
VERSION = 1
DEK_AAD = b"auditseal-dek-v1"
HEADER = 4 + 1 + 8 + 12 + 48 + 12


def is_encrypted(blob: bytes) -> bool:
    return blob[:4] == MAGIC


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:8]


class SegmentCipher:
    """Encrypts with ``key``; opens segments of ``key`` and of any of ``older`` (rotation)."""

    def __init__(self, key: bytes, older: tuple[bytes, ...] = ()):
        if any(len(k) != 32 for k in (key, *older)):
            raise ValueError("an archive key is 32 bytes")
        self._kek = AESGCM(key)
        self.key_id = key_id(key)
        self._keks = {key_id(k): AESGCM(k) for k in (*older, key)}

    @classmethod
    def load(cls, path: Path) -> "SegmentCipher":
        try:
            keys = [bytes.fromhex(line) for line in Path(path).read_text().split() if line]
            if not keys:
                raise ValueError("empty")
            return cls(keys[0], tuple(keys[1:]))
        except (OSError, ValueError) as exc:
            raise Halt(f"{path}: cannot read the archive key (32 bytes, hex): {type(exc).__name__}") from None

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        dek, wrap_nonce, nonce = AESGCM.generate_key(256), os.urandom(12), os.urandom(12)
        wrapped = self._kek.encrypt(wrap_nonce, dek, DEK_AAD)
        return (
            MAGIC
            + bytes([VERSION])
            + self.key_id
            + wrap_nonce
            + wrapped
            + nonce
            + AESGCM(dek).encrypt(nonce, plaintext, aad)
        )

    def open(self, blob: bytes, aad: bytes) -> bytes:
        if not is_encrypted(blob) or len(blob) < HEADER + 16 or blob[4] != VERSION:
            raise Rejected("not_encrypted", "not an encrypted segment of a known version")
        kek = self._keks.get(blob[5:13])
        if kek is None:
            raise Rejected(
                "wrong_key", f"segment was encrypted under archive key {blob[5:13].hex()}, not in this key file"
            )
        wrap_nonce, wrapped, nonce = blob[13:25], blob[25:73], blob[73:85]
        try:
            dek = kek.decrypt(wrap_nonce, wrapped, DEK_AAD)
            return AESGCM(dek).decrypt(nonce, blob[85:], aad)
        except InvalidTag:
            raise Rejected("decrypt_failed", "segment does not decrypt: altered or another key") from None


def new_key_file(path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return path


def rotate_key_file(path: Path) -> str:
    """Put a new key first in the key file, keeping every older one for reading; returns the
    new key's id (hex). Written atomically: a crash leaves the old file or the new one."""
    path = Path(path)
    SegmentCipher.load(path)  # refuse to rotate a file that is not a key file
    old = [line for line in path.read_text().split() if line]
    new = secrets.token_hex(32)
    tmp = path.with_name(path.name + ".rotate")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join([new, *old]) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return key_id(bytes.fromhex(new)).hex()
