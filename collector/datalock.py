"""One collector per data directory: an exclusive ``flock`` on ``<data_dir>/collector.lock``
(with the holder's pid in it), held for the life of the process and freed by the kernel
whatever way the process ends."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from auditseal.errors import Halt


class DataDirLock:
    def __init__(self, data_dir: Path, name: str = "collector.lock"):
        self.path = Path(data_dir) / name  # a fleet role's own lock: <role>.lock
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise Halt(f"{self.path.parent}: cannot use the data directory: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise Halt(
                    f"{self.path.parent}: data directory is held by a running collector (pid {holder}); stop it first"
                ) from None
            raise Halt(f"{self.path}: cannot lock: {exc.strerror}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
