"""Checkpoint signing keys: ``auditseal keys init`` writes ``<name>.key`` (secret, 0600)
and ``<name>.vkey`` (the verifier key to pin in `auditseal verify --pubkey`).

Rotation: make a new key and point the collector at it; keep pinning the old ``.vkey``
so checkpoints it signed stay verifiable.
"""

from __future__ import annotations

import os
from pathlib import Path

from auditseal.errors import Halt
from auditseal.formats.note import Signer


def init(directory: Path, name: str) -> tuple[Path, Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key_path, vkey_path = directory / f"{name}.key", directory / f"{name}.vkey"
    if key_path.exists():
        raise Halt(f"{key_path} exists; refusing to overwrite a signing key")
    signer = Signer.generate(name)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(signer.encode() + "\n")
    vkey_path.write_text(signer.verifier().encode() + "\n")
    return key_path, vkey_path
