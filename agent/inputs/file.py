"""File input: tails files matched by globs, from their beginning, through every rotation.

Identity and rotation rules are in ``tracking``. Position state, committed to the spool
with the events it covers: ``{tracked id: {"path", "dev", "ino", "fp", "fp_len", "offset",
"skipping"}}``. Discovery: watchdog notifications wake the loop early; polling every
``poll_interval`` is the fallback (and the only source for globs with wildcard folders).
Rotated compressed files (``.gz``) are never read as text.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import time

from auditseal import crashpoints
from auditseal.formats.event import utc_now_iso
from auditseal.logs import kv

from ..config import FileInput
from ..lines import Line, split_lines
from ..normalise import Source
from ..parsers import REGISTRY as PARSERS
from ..parsers import auditd as _auditd  # noqa: F401 (register)
from ..parsers import auth as _auth  # noqa: F401 (register)
from ..parsers import jsonlines as _json  # noqa: F401 (register)
from ..parsers import parse_safely
from . import Chunk, DeadLetter, Submit, register
from .tracking import FP_BYTES, Detached, Tracked, adoptable, fingerprint, head_fp, looks_like_copy_of, same_content

log = logging.getLogger("auditseal.agent.file")
DETACHED_TTL = 120.0
SKIP_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")


@register("file")
class FileTailer:
    def __init__(self, config: FileInput, position: dict, source: Source, metrics):
        self.config = config
        self.name = config.name
        self.source = source
        self.metrics = metrics
        self.files: dict[str, Tracked] = {k: Tracked.restore(k, v) for k, v in (position or {}).items()}
        self.detached: list[Detached] = []
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._observer = None
        self.parser = PARSERS[config.format](config)

    # -- lifecycle ---------------------------------------------------------------------
    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self, submit: Submit) -> None:
        self._watch(asyncio.get_running_loop())
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                progressed = False
                for tracked in self.scan():
                    while (chunk := self.read(tracked)) is not None:
                        progressed = True
                        crashpoints.hit("after_read")  # read and parsed, not yet spooled
                        await submit(chunk)
                        await asyncio.sleep(0)  # let the shipper and metrics run between chunks
                        if self._stopping.is_set():
                            return
                self._release_drained()
                if not progressed:
                    try:
                        await asyncio.wait_for(self._wake.wait(), self.config.poll_interval)
                    except asyncio.TimeoutError:
                        pass
        finally:
            if self._observer is not None:
                self._observer.stop()
            for tracked in self.files.values():
                tracked.close()

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """inotify (watchdog) wake-ups for folders named without wildcards."""
        folders = {os.path.dirname(p) or "." for p in self.config.paths}
        folders = [f for f in folders if not glob.has_magic(f) and os.path.isdir(f)]
        if not folders:
            return
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        wake = self._wake

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event):
                loop.call_soon_threadsafe(wake.set)

        observer = Observer()
        for folder in folders:
            observer.schedule(Handler(), folder, recursive=False)
        try:
            observer.start()
            self._observer = observer
        except OSError as exc:  # out of inotify watches: polling still works
            log.warning("file notifications unavailable; polling only", extra=kv(error=str(exc)))

    # -- discovery and identity --------------------------------------------------------------
    def discover(self) -> list[str]:
        found: set[str] = set()
        for pattern in self.config.paths:
            found.update(p for p in glob.glob(pattern) if not p.endswith(SKIP_SUFFIXES))
        return sorted(found)

    def scan(self) -> list[Tracked]:
        """Match what the globs show to tracked content; returns everything to read.

        Three phases, so the order files are looked at never matters: find every file whose
        content changed in place; detach all their old read states; then give each changed
        or new file its starting point (adopt a detached state, wait as a possible copy, or
        start from 0)."""
        now = time.monotonic()
        observed: dict[tuple[int, int], str] = {}
        for path in self.discover():
            try:
                st = os.stat(path)
            except OSError:
                continue
            observed.setdefault((st.st_dev, st.st_ino), path)
        claimed: set[tuple[int, int]] = set()
        starting: list[Tracked] = []
        for tracked in list(self.files.values()):
            outcome = self._refresh(tracked, observed, claimed)
            if outcome == "replaced":
                self.detached.append(
                    Detached(tracked.fp, tracked.fp_len, tracked.offset, tracked.skipping, now, tracked.id)
                )
                log.warning(
                    "file truncated or rewritten; its old content may continue in a copy",
                    extra=kv(path=tracked.path, offset=tracked.offset),
                )
                self.metrics.truncations.labels(self.name).inc()
            if outcome in ("replaced", "pending"):
                starting.append(tracked)
        for key, path in observed.items():
            if key not in claimed and (t := self._open_new(key, path)) is not None:
                starting.append(t)
        for tracked in starting:
            self._start(tracked, now)
        self.detached = [d for d in self.detached if now - d.since < DETACHED_TTL]
        return [t for t in self.files.values() if t.pending_since is None]

    def _refresh(self, t: Tracked, observed: dict, claimed: set) -> str:
        key = (t.dev, t.ino)
        if t.fd is None and not self._reopen(t, observed):
            return "gone"
        st = os.fstat(t.fd)
        if st.st_nlink == 0:
            t.orphan = True  # deleted while open: the path may now be a new file, reusing the inode
            return "orphan"
        if key not in observed:
            t.orphan = True  # renamed out of the globs: drain it through the descriptor
            return "orphan"
        claimed.add(key)
        t.path, t.orphan = observed[key], False
        if t.pending_since is not None:
            return "pending"
        if not same_content(t.fd, t, st.st_size):
            return "replaced"
        if t.fp_len < FP_BYTES and st.st_size > t.fp_len:
            head = os.pread(t.fd, min(st.st_size, FP_BYTES), 0)
            t.fp, t.fp_len = fingerprint(head), len(head)
        return "same"

    def _reopen(self, t: Tracked, observed: dict) -> bool:
        """After a restart: find the tracked content again, or let it go."""
        path = observed.get((t.dev, t.ino)) or _find_inode(os.path.dirname(t.path), t.dev, t.ino)
        if path is not None:
            try:
                t.fd = os.open(path, os.O_RDONLY)
                st = os.fstat(t.fd)
                if (st.st_dev, st.st_ino) == (t.dev, t.ino) and same_content(t.fd, t, st.st_size):
                    return True
                t.close()
            except OSError:
                t.close()
        # Gone (or its inode now holds other content): a copy of it may still turn up.
        if t.fp_len:
            self.detached.append(Detached(t.fp, t.fp_len, t.offset, t.skipping, time.monotonic(), t.id))
        del self.files[t.id]
        return False

    def _open_new(self, key: tuple[int, int], path: str) -> Tracked | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        st = os.fstat(fd)
        held = any((f.dev, f.ino) == key and f.fd is not None for f in self.files.values())
        if (st.st_dev, st.st_ino) != key or st.st_nlink == 0 or held:
            # Replaced between stat and open (next scan); or being deleted: an open by path can
            # still reach a file whose unlink is under way, which its tracked entry already
            # drains as an orphan; or content already held open (an inode number is not reused
            # while we hold it): a second entry would read it again from the start.
            os.close(fd)
            return None
        t = Tracked(f"{st.st_dev}:{st.st_ino}:{time.monotonic_ns() % 10**12}", path, st.st_dev, st.st_ino, "", 0, fd=fd)
        self.files[t.id] = t
        return t

    def _start(self, t: Tracked, now: float) -> None:
        """Where new or rewritten content starts being read."""
        size = os.fstat(t.fd).st_size
        if size == 0:
            # Nothing to judge yet (a copy may have just been opened for writing): wait; the
            # grace for copies counts from when it was last seen empty.
            t.pending_since = now
            return
        adopt = next((d for d in self.detached if d.owner != t.id and adoptable(d, t.fd, size)), None)
        if adopt is None and any(
            u is not t and not u.orphan and u.pending_since is None and looks_like_copy_of(u, t.fd, size)
            for u in self.files.values()
        ):
            # Maybe the copy of a copytruncate whose truncate is a moment away: wait a little;
            # after that it is a distinct file that happens to start the same way.
            if t.pending_since is None:
                t.pending_since = now
            if now - t.pending_since < self.config.copy_grace:
                return
        head = os.pread(t.fd, min(size, FP_BYTES), 0)
        t.fp, t.fp_len, t.pending_since = fingerprint(head), len(head), None
        t.offset, t.skipping = 0, False
        if adopt is not None:
            self.detached.remove(adopt)
            t.offset, t.skipping = adopt.offset, adopt.skipping
            log.info("rotated copy continues where the original was", extra=kv(path=t.path, offset=t.offset))

    def _release_drained(self) -> None:
        now = time.monotonic()
        for t in list(self.files.values()):
            if (
                t.orphan
                and t.fd is not None
                and t.offset >= os.fstat(t.fd).st_size
                and now - t.last_growth >= self.config.close_inactive
            ):
                t.close()
                del self.files[t.id]

    # -- reading -----------------------------------------------------------------------------
    def read(self, t: Tracked, last_pass: bool = False) -> Chunk | None:
        """The next chunk of ``t`` (complete lines, parsed); None when there is nothing new.

        ``last_pass`` (dry run): nothing will be read after this, so what reaches the end of
        the file is finished now (a last line without newline, an auditd event without EOE)."""
        if t.fd is None:
            return None
        size = os.fstat(t.fd).st_size
        now = time.monotonic()
        if size != t.last_size:
            t.last_size, t.last_growth = size, now
        if size <= t.offset:
            return None
        chunk = self.config.read_chunk_bytes
        data = os.pread(t.fd, min(chunk, size - t.offset), t.offset)
        split = split_lines(data, t.offset, self.config.max_line_bytes, t.skipping)
        if split.consumed == 0 and len(data) == chunk and chunk <= self.config.max_line_bytes:
            # One line fills the whole read: read one byte more than the longest line, or a
            # line longer than the read could never complete (nor be cut) and the file would
            # wait for it forever.
            data = os.pread(t.fd, min(self.config.max_line_bytes + 1, size - t.offset), t.offset)
            split = split_lines(data, t.offset, self.config.max_line_bytes, t.skipping)
        if t.fp_len and head_fp(t.fd, t.fp_len) != t.fp:
            # Rewritten in place while we read (copytruncate into an existing copy): what we
            # read may be the new content. Drop it; the next scan sees the rewrite.
            return None
        lines, consumed = split.lines, split.consumed
        at_end = t.offset + len(data) == size
        quiet = now - t.last_growth >= self.config.partial_line_timeout or (last_pass and at_end)
        if consumed == 0 and quiet and at_end and not split.skipping:
            # A last line without its newline, and the writer has gone quiet: ship it.
            lines, consumed = [Line(data.rstrip(b"\r"), t.offset + len(data))], len(data)
        if consumed == 0:
            return None
        if last_pass and consumed != len(data):
            quiet = False  # lines remain after this read: the pass is not at its end yet
        parsed = parse_safely(self.parser, lines, self.source, utc_now_iso(), final=quiet)
        if parsed.consumed < len(lines):
            # A multi-line record still open at the end: read it again whole next time.
            consumed = (lines[parsed.consumed - 1].end - t.offset) if parsed.consumed else 0
            if consumed == 0:
                return None
        chunk = Chunk(self.name, size=consumed, events=parsed.events)
        for line, exc in parsed.rejected:
            chunk.dead.append(DeadLetter(self.name, t.path, line.end, exc.reason, str(exc), line.data))
        t.offset += consumed
        t.skipping = split.skipping if consumed == split.consumed else False
        chunk.position = {k: f.persisted() for k, f in self.files.items() if f.pending_since is None}
        self.metrics.lines_read.labels(self.name).inc(parsed.consumed)
        return chunk

    def read_once(self, path: str) -> Chunk | None:
        """Dry run helper: the next chunk of whatever is at ``path``."""
        for t in self.scan():
            if t.path == path:
                return self.read(t, last_pass=True)
        return None


def _find_inode(folder: str, dev: int, ino: int) -> str | None:
    """A renamed file, found again after a restart by its inode."""
    try:
        with os.scandir(folder or ".") as entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if st.st_ino == ino and st.st_dev == dev and entry.is_file(follow_symlinks=False):
                    return entry.path
    except OSError:
        return None
    return None
