"""C2SP signed notes with Ed25519 (https://c2sp.org/signed-note).

A note is UTF-8 text ending in a newline, a blank line, then signature lines::

    — <key name> <base64(key id[4] ‖ Ed25519 signature[64])>

The signature covers the text including its final newline. Key id =
SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]. Key encodings (as Go's sumdb/note)::

    signer:   PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ 32-byte seed)>
    verifier: <name>+<hex key id>+<base64(0x01 ‖ 32-byte public key)>
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG_ED25519 = 0x01
DASH = "\u2014 "
MAX_SIGNATURES = 100


class NoteError(Exception):
    """Malformed note or key; ``code`` says what kind of failure (for verifier findings)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError("bad_key", f"bad key name {name!r}: no spaces or '+'")


@dataclass(frozen=True)
class Verifier:
    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> "Verifier":
        try:
            name, kid, blob = text.strip().split("+", 2)
            raw = base64.b64decode(blob, validate=True)
            kid_bytes = bytes.fromhex(kid)
        except (ValueError, binascii.Error):
            raise NoteError("bad_key", "malformed verifier key") from None
        if len(raw) != 33 or raw[0] != ALG_ED25519 or len(kid_bytes) != 4:
            raise NoteError("bad_key", "verifier key is not an Ed25519 key")
        _check_name(name)
        if key_id(name, raw[1:]) != kid_bytes:
            raise NoteError("bad_key", "verifier key id does not match its key")
        return cls(name, kid_bytes, raw[1:])

    def encode(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+" + base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
            return True
        except InvalidSignature:
            return False


@dataclass(frozen=True)
class Signer:
    name: str
    seed: bytes

    @classmethod
    def generate(cls, name: str) -> "Signer":
        _check_name(name)
        key = Ed25519PrivateKey.generate()
        return cls(
            name,
            key.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            ),
        )

    @classmethod
    def parse(cls, text: str) -> "Signer":
        try:
            private, key, name, kid, blob = text.strip().split("+", 4)
            raw = base64.b64decode(blob, validate=True)
        except (ValueError, binascii.Error):
            raise NoteError("bad_key", "malformed signer key") from None
        if (private, key) != ("PRIVATE", "KEY") or len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("bad_key", "not an Ed25519 signer key")
        signer = cls(name, raw[1:])
        if signer.verifier().key_id.hex() != kid:
            raise NoteError("bad_key", "signer key id does not match its key")
        return signer

    def _key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    def verifier(self) -> Verifier:
        public = self._key().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return Verifier(self.name, key_id(self.name, public), public)

    def encode(self) -> str:
        kid = self.verifier().key_id.hex()
        return f"PRIVATE+KEY+{self.name}+{kid}+" + base64.b64encode(bytes([ALG_ED25519]) + self.seed).decode()

    def sign(self, text: str) -> str:
        """The signed note for ``text`` (which must end in a newline and hold no blank line)."""
        if not text.endswith("\n") or "\n\n" in text:
            raise NoteError("malformed", "note text must end in a newline and hold no blank line")
        signature = self._key().sign(text.encode())
        blob = base64.b64encode(self.verifier().key_id + signature).decode()
        return f"{text}\n{DASH}{self.name} {blob}\n"


def open_note(note: str, verifiers: list[Verifier]) -> tuple[str, Verifier]:
    """Verify ``note`` with any of ``verifiers``; return its text and the key that signed it.

    Raises ``NoteError`` with code ``malformed``, ``unknown_key`` (no signature by a known
    key) or ``bad_signature`` (a known key's signature does not verify).
    """
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("malformed", "not a signed note (no blank line before signatures)")
    text = note[: split + 1]
    lines = note[split + 2 :].splitlines()
    if not lines or len(lines) > MAX_SIGNATURES:
        raise NoteError("malformed", "no signatures or too many")
    known = {(v.name, v.key_id): v for v in verifiers}
    # Every line after the blank one must be a well-formed signature line (C2SP signed-note,
    # Go's sumdb/note): anything else there is a malformed note, even after a good signature.
    parsed = []
    for line in lines:
        if not line.startswith(DASH):
            raise NoteError("malformed", "malformed signature line")
        try:
            name, blob = line[len(DASH) :].rsplit(" ", 1)
            raw = base64.b64decode(blob, validate=True)
        except (ValueError, binascii.Error):
            raise NoteError("malformed", "malformed signature line") from None
        if len(raw) < 5 or not name or " " in name or "+" in name:
            raise NoteError("malformed", "malformed signature line")
        parsed.append((name, raw))
    for name, raw in parsed:
        verifier = known.get((name, raw[:4]))
        if verifier is None:
            continue
        if not verifier.verify(text.encode(), raw[4:]):
            raise NoteError("bad_signature", f"signature by {name} does not verify")
        return text, verifier
    names = ", ".join(sorted({line[len(DASH) :].rsplit(" ", 1)[0] for line in lines}))
    raise NoteError("unknown_key", f"signed only by keys not pinned here: {names}")
