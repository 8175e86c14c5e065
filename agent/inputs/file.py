"""File input: tails JSON-lines files matched by globs, from their beginning.

Position state per file path: ``{"dev", "ino", "offset", "skipping"}``. A file whose
device/inode changed is a new file and is read from offset 0; a file shorter than its
offset was truncated and is read again from 0.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os

from auditseal import crashpoints
from auditseal.errors import Rejected
from auditseal.event import utc_now_iso
from auditseal.logs import kv

from ..config import FileInput
from ..lines import split_lines
from ..normalise import Source, from_json_line
from . import Chunk, DeadLetter, Submit, register

log = logging.getLogger("auditseal.agent.file")


@register("file")
class FileTailer:
    def __init__(self, config: FileInput, position: dict, source: Source, metrics):
        self.config = config
        self.name = config.name
        self.source = source
        self.metrics = metrics
        self.state: dict[str, dict] = {path: dict(st) for path, st in (position or {}).items()}
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    def discover(self) -> list[str]:
        found: set[str] = set()
        for pattern in self.config.paths:
            found.update(p for p in glob.glob(pattern) if not p.endswith(".gz"))
        return sorted(found)

    async def run(self, submit: Submit) -> None:
        while not self._stopping.is_set():
            progressed = False
            paths = self.discover()
            for path in paths:
                chunk = self.read_once(path)
                if chunk is not None:
                    progressed = True
                    crashpoints.hit("after_read")  # read and parsed, not yet spooled
                    await submit(chunk)
                    await asyncio.sleep(0)  # let the shipper and metrics run between chunks
            # Forget files that are gone, so the position state stays small.
            for gone in set(self.state) - set(paths):
                del self.state[gone]
            if not progressed:
                try:
                    await asyncio.wait_for(self._stopping.wait(), self.config.poll_interval)
                except asyncio.TimeoutError:
                    pass

    def read_once(self, path: str) -> Chunk | None:
        """Read and parse the next chunk of ``path``; None when there is nothing new."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            state = self.state.get(path)
            if state is None or (state["dev"], state["ino"]) != (st.st_dev, st.st_ino):
                state = {"dev": st.st_dev, "ino": st.st_ino, "offset": 0, "skipping": False}
                self.state[path] = state
            elif st.st_size < state["offset"]:
                log.warning("file truncated; reading it again from the start",
                            extra=kv(path=path, offset=state["offset"], size=st.st_size))
                self.metrics.truncations.labels(self.name).inc()
                state.update(offset=0, skipping=False)
            if st.st_size == state["offset"]:
                return None
            data = os.pread(fd, min(self.config.read_chunk_bytes, st.st_size - state["offset"]),
                            state["offset"])
        finally:
            os.close(fd)
        start = state["offset"]
        split = split_lines(data, start, self.config.max_line_bytes, state["skipping"])
        if split.consumed == 0:
            return None
        chunk = Chunk(self.name, size=split.consumed)
        created = utc_now_iso()
        for line in split.lines:
            try:
                if line.cut:
                    raise Rejected("line_too_long",
                                   f"line longer than max_line_bytes={self.config.max_line_bytes}")
                chunk.events.append(from_json_line(line.data, self.source, created))
            except Rejected as exc:
                chunk.dead.append(DeadLetter(self.name, path, line.end, exc.reason, str(exc), line.data))
        state["offset"] = start + split.consumed
        state["skipping"] = split.skipping
        chunk.position = {p: dict(s) for p, s in self.state.items()}
        self.metrics.lines_read.labels(self.name).inc(len(split.lines))
        return chunk
