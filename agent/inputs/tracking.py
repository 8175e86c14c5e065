"""Which file is which: identity by fingerprint plus device and inode, through rotation.

A tracked file is the *content* the agent reads, whatever its name. It is recognised by
(device, inode) while its link stays alive, and by a fingerprint of its first bytes when
its inode changes hands:

- rename rotation (create): the inode keeps its state under its new name; if the new name
  is outside the globs, the open descriptor drains it, then it is released;
- copytruncate: the original inode is truncated (size below the offset, or a different
  first block); its state is detached, and the copy, a new inode with the same first
  bytes, adopts the offset — the rest of the old content is read from the copy, nothing
  twice. A new file whose first bytes equal a *live* file's waits a moment (the copy of a
  copytruncate appears just before the truncate); after that it is a distinct file;
- deleted while open (``st_nlink == 0``): drained through the descriptor, then closed; an
  inode number reused by a new file (tmpfs does that) is a new file;
- truncation in place: read again from the start.

Files shorter than the fingerprint size are fingerprinted on what they have; the
fingerprint grows with them.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field

FP_BYTES = 1024


def fingerprint(head: bytes) -> str:
    return hashlib.sha256(head).hexdigest()[:32]


@dataclass
class Tracked:
    id: str
    path: str
    dev: int
    ino: int
    fp: str
    fp_len: int
    offset: int = 0
    skipping: bool = False
    # Runtime only:
    fd: int | None = field(default=None, repr=False)
    orphan: bool = False  # renamed out of the globs or deleted: drain, then release
    pending_since: float | None = None  # new content waiting to learn whether it is a copy
    last_size: int = -1
    last_growth: float = field(default_factory=time.monotonic)

    def persisted(self) -> dict:
        return {
            "path": self.path,
            "dev": self.dev,
            "ino": self.ino,
            "fp": self.fp,
            "fp_len": self.fp_len,
            "offset": self.offset,
            "skipping": self.skipping,
        }

    @classmethod
    def restore(cls, key: str, d: dict) -> "Tracked":
        return cls(
            key,
            d["path"],
            d["dev"],
            d["ino"],
            d.get("fp", ""),
            d.get("fp_len", 0),
            d.get("offset", 0),
            d.get("skipping", False),
        )

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@dataclass
class Detached:
    """The read state of content whose inode was truncated: a copy may adopt it."""

    fp: str
    fp_len: int
    offset: int
    skipping: bool
    since: float
    owner: str = ""  # the tracked id whose content this was (it never adopts itself)


def head_fp(fd: int, length: int) -> str:
    return fingerprint(os.pread(fd, length, 0))


def same_content(fd: int, t: Tracked, size: int) -> bool:
    """The inode still holds the content ``t`` was reading (not truncated or rewritten)."""
    if size < t.offset:
        return False
    return t.fp_len == 0 or head_fp(fd, t.fp_len) == t.fp


def adoptable(detached: Detached, fd: int, size: int) -> bool:
    return detached.fp_len > 0 and size >= detached.offset and head_fp(fd, detached.fp_len) == detached.fp


def looks_like_copy_of(live: Tracked, fd: int, size: int) -> bool:
    """A new file that starts with a live file's first bytes — all of them, or, while a
    copy is still being written, as many as it has so far: maybe a copytruncate copy."""
    if live.fp_len == 0 or live.fd is None or size == 0:
        return False
    if size >= live.fp_len:
        return head_fp(fd, live.fp_len) == live.fp
    return os.pread(fd, size, 0) == os.pread(live.fd, size, 0)
