"""Local archive sink (the embedded default): write-once lz4 NDJSON segment files per tenant.

Layout::

    <archive>/<tenant>/<start>-<end>.ndjson.lz4      events of journal range [start, end)
    <archive>/.cursor.json                           journal position processed up to

``start`` and ``end`` are journal positions written ``SSSSSSSSSSSS.OOOOOOOOOOOO``
(segment.offset, zero-padded) so names sort in journal order. Files are written to a
temporary name, fsynced, renamed and made read-only. A tenant's newest file end is that
tenant's own cursor: after a crash between two tenants' files, replay skips what a tenant
already holds, so no event is archived twice. (Merkle sealing and signed checkpoints
come with the integrity work; see docs/design.md.)
"""

from __future__ import annotations

import os
from pathlib import Path

import lz4.frame
import orjson

from auditseal.records import Record
from auditseal.segments import Position, fsync_dir, write_atomic

from .journal import decode_batch
from .stored import materialise

SUFFIX = ".ndjson.lz4"


def position_name(position: Position) -> str:
    return f"{position.segment:012d}.{position.offset:012d}"


def parse_position(text: str) -> Position:
    segment, _, offset = text.partition(".")
    return Position(int(segment), int(offset))


class LocalArchive:
    name = "archive"

    def __init__(self, root: Path):
        self.root = Path(root)
        self.cursor_path = self.root / ".cursor.json"
        self._tenant_ends: dict[str, Position] = {}

    def open(self) -> Position | None:
        self.root.mkdir(parents=True, exist_ok=True)
        for tenant_dir in self.root.iterdir():
            if tenant_dir.is_dir():
                ends = [parse_position(p.name[: -len(SUFFIX)].split("-")[1])
                        for p in tenant_dir.glob(f"*{SUFFIX}")]
                if ends:
                    self._tenant_ends[tenant_dir.name] = max(ends)
        if self.cursor_path.exists():
            return Position(*orjson.loads(self.cursor_path.read_bytes()))
        return None

    def process(self, records: list[tuple[Position, Record]], end: Position) -> None:
        start = records[0][0]
        by_tenant: dict[str, list[bytes]] = {}
        for position, record in records:
            meta, lines = decode_batch(record.payload)
            if position < self._tenant_ends.get(meta.tenant, Position(0, 0)):
                continue  # already archived before a crash
            by_tenant.setdefault(meta.tenant, []).extend(materialise(meta, line)[1] for line in lines)
        for tenant, lines in sorted(by_tenant.items()):
            self._write_segment(tenant, start, end, lines)
        write_atomic(self.cursor_path, orjson.dumps([end.segment, end.offset]))

    def _write_segment(self, tenant: str, start: Position, end: Position, lines: list[bytes]) -> None:
        directory = self.root / tenant
        directory.mkdir(exist_ok=True)
        name = f"{position_name(start)}-{position_name(end)}{SUFFIX}"
        tmp = directory / (name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(lz4.frame.compress(b"".join(line + b"\n" for line in lines)))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o444)
        os.replace(tmp, directory / name)
        fsync_dir(directory)
        self._tenant_ends[tenant] = end

    def close(self) -> None:
        pass


def read_segment(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in lz4.frame.decompress(path.read_bytes()).splitlines()]
