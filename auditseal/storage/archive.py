"""Archive layout and the write-once store it lives in.

One log per (tenant, partition)::

    <tenant>/<partition>/segments/<first leaf, 12 digits>-<last leaf, 12 digits>.ndjson.lz4
    <tenant>/<partition>/checkpoints/<counter, 8 digits>.note

A segment is one lz4 frame (with content checksum) of the stored events, one canonical
JSON document per line, in log order; leaf i of the log is line (i − first) of its segment.
With an archive key the frame is stored AES-256-GCM encrypted (``crypto``), bound to its
object key.
``LocalStore`` keeps objects as read-only files; an S3 Object Lock store implements the
same few calls.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

import lz4.frame

from auditseal.errors import Rejected
from auditseal.formats.crypto import SegmentCipher, is_encrypted
from auditseal.storage.files import fsync_dir

SEGMENT_RE = re.compile(r"^segments/(\d{12})-(\d{12})\.ndjson\.lz4$")
CHECKPOINT_RE = re.compile(r"^checkpoints/(\d{8})\.note$")


def segment_key(first: int, count: int) -> str:
    return f"segments/{first:012d}-{first + count - 1:012d}.ndjson.lz4"


def checkpoint_key(counter: int) -> str:
    return f"checkpoints/{counter:08d}.note"


def encode_segment(lines: list[bytes], cipher: SegmentCipher | None = None, key: str = "") -> bytes:
    frame = lz4.frame.compress(b"".join(line + b"\n" for line in lines), content_checksum=True)
    return cipher.seal(frame, key.encode()) if cipher else frame


def decode_segment(blob: bytes, cipher: SegmentCipher | None = None, key: str = "") -> list[bytes]:
    """The stored events of a segment; ``key`` is its object key (bound into encryption)."""
    if is_encrypted(blob):
        if cipher is None:
            raise Rejected("encrypted", "segment is encrypted: the archive key is needed to read it")
        blob = cipher.open(blob, key.encode())
    return lz4.frame.decompress(blob).splitlines()


class Store(Protocol):
    # Its objects cannot change once written (S3 Object Lock): a verifier may check only what
    # is new since its last run. False: every object is read again each time.
    immutable: bool

    def list(self, prefix: str, start_after: str | None = None) -> list[str]:
        """Keys under ``prefix`` in order, only those after ``start_after`` when given."""

    def logs(self) -> list[tuple[str, str]]:
        """(tenant, partition) of every log, without listing every object."""

    def check_posture(self) -> None:
        """Raise ``Halt`` when the store cannot keep records write-once as configured."""

    def anomalies(self) -> list:
        """Attempts to hide or replace objects (delete markers, later versions), if the
        store can see them; ``archive_s3.Anomaly`` items."""

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def put_once(self, key: str, data: bytes, retain_until=None, metadata=None) -> object: ...

    def remove_unsealed(self, key: str) -> None: ...


class LocalStore:
    """Objects as files under ``root``: written to a temporary name, fsynced, hard-linked,
    made read-only. ``put_once`` refuses to replace an object."""

    immutable = False  # files can be edited by whoever has the disk

    def __init__(self, root: Path):
        self.root = Path(root)

    def check_posture(self) -> None:
        """Files are made read-only; nothing more a directory can promise."""

    def anomalies(self) -> list:
        return []  # a directory keeps no versions: an edit is seen by its hash alone

    def list(self, prefix: str, start_after: str | None = None) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        keys = []
        # os.walk skips what vanishes while it walks (a directory removed mid-listing).
        for dirpath, _, files in os.walk(base):
            keys.extend(str(Path(dirpath, f).relative_to(self.root)) for f in files if not f.endswith(".tmp"))
        return sorted(k for k in keys if start_after is None or k > start_after)

    def logs(self) -> list[tuple[str, str]]:
        found = []
        for tenant in _subdirs(self.root):
            found.extend(
                (tenant.name, log.name)
                for log in _subdirs(tenant)
                if (log / "segments").is_dir() or (log / "checkpoints").is_dir()
            )
        return sorted(found)

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def exists(self, key: str) -> bool:
        return (self.root / key).exists()

    def put_once(self, key: str, data: bytes, retain_until=None, metadata=None) -> None:
        """``retain_until`` and ``metadata`` matter to locking stores (S3); files ignore them."""
        path = self.root / key
        if path.exists():
            raise FileExistsError(f"{key} exists: archive objects are written once")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o444)
            try:
                # link, not rename: an exclusive create, so two writers racing for one key
                # (a sealer that lost its lease, still running) cannot both land an object.
                os.link(tmp, path)
            except FileExistsError:
                raise FileExistsError(f"{key} exists: archive objects are written once") from None
        finally:
            os.unlink(tmp)
        fsync_dir(path.parent)

    def remove_unsealed(self, key: str) -> None:
        """Remove an object a crash left behind before its seal was recorded."""
        (self.root / key).unlink(missing_ok=True)


def _subdirs(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def list_logs(store: Store) -> list[tuple[str, str]]:
    """(tenant, partition) of every log in the store."""
    return store.logs()
