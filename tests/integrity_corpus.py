"""A sealed archive built with the real sealer: the corpus the tamper tests work on."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson

from auditseal.dev import samples
from auditseal.formats.event import utc_now_iso
from auditseal.formats.note import Signer
from auditseal.formats.records import Record
from auditseal.storage import archive
from auditseal.storage.segments import Position
from collector.journal import BatchMeta, encode_batch
from collector.sinks.sealer import Sealer
from collector.sinks.sqlite_index import SqliteIndex
from tests.journal_helpers import journal_batch

AGENT = "web-1"


def agent_line(seq: int, tenant: str) -> bytes:
    doc = samples.event(seq, tenant)
    doc["agent"] = {"id": AGENT}
    doc["event"].update(sequence=seq, created=utc_now_iso())
    return orjson.dumps(doc)


def journal_batches(
    batches: list[tuple[str, int]], seq: int = 0, offset: int = 8
) -> list[list[tuple[Position, Record]]]:
    """Journal records as the collector writes them: one record per (tenant, batch)."""
    out = []
    for tenant, count in batches:
        lines = [agent_line(seq + i + 1, tenant) for i in range(count)]
        seq += count
        payload = encode_batch(BatchMeta(AGENT, tenant, utc_now_iso()), lines)
        record = Record(offset, offset + 17 + len(payload), 1, seq, payload)
        out.append([(Position(1, offset), record)])
        offset = record.end
    return out


def build(
    root: Path, batches: list[tuple[str, int]], signer: Signer | None = None, with_index: bool = True, cipher=None
) -> Signer:
    signer = signer or Signer.generate("auditseal.test")
    sealer = Sealer(archive.LocalStore(root / "archive"), root / "sealer", signer, signer.name, cipher=cipher)
    sealer.open()
    index = SqliteIndex(root / "index.sqlite") if with_index else None
    if index:
        index.open()
    for records in journal_batches(batches):
        end = Position(1, records[-1][1].end)
        sealer.process(journal_batch(records, end))
        if index:
            index.process(journal_batch(records, end))
    if index:
        index.close()
    (root / "verifier.vkey").write_text(signer.verifier().encode() + "\n")
    return signer


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for path in dst.rglob("*"):
        if path.is_file():
            path.chmod(0o644)  # the tamperer has write access; the archive made files read-only
    return dst


def sealed_event_ids(store, log: str) -> list[str]:
    """The event ids of a log's sealed segments, in leaf order."""
    return [
        orjson.loads(line)["event"]["id"]
        for key in store.list(f"{log}/segments")
        for line in archive.decode_segment(store.get(key))
    ]
