"""What a spool holds, read without opening it (safe while the agent runs: segments are
scanned, never recovered or cut)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import orjson

from auditseal.formats import records

from .ledger import EVENT, MAGIC, POSITIONS


@dataclass
class SpoolView:
    segments: int = 0
    bytes: int = 0
    next_seq: int = 1
    acked_seq: int = 0
    oldest_unacked_created: str | None = None
    inputs: dict = field(default_factory=dict)  # input name → {file key: state}
    declared_gaps: list = field(default_factory=list)
    ledger_path: Path | None = None


def view(spool_dir: Path) -> SpoolView:
    ledger = _json(spool_dir / "acked.json") or {}
    found = SpoolView(
        acked_seq=int(ledger.get("acked_seq", 0) or 0),
        declared_gaps=ledger.get("gaps", []),
        ledger_path=spool_dir / "acked.json",
    )
    segment_files = sorted((spool_dir / "segments").glob("*.seg"))
    found.segments = len(segment_files)
    for path in segment_files:
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # acknowledged and deleted while we looked
            continue
        found.bytes += len(data)
        if records.check_header(data, MAGIC) is not None:
            continue
        for record in records.scan(data, records.HEADER_SIZE, 0, frozenset({EVENT, POSITIONS})).records:
            if record.kind == POSITIONS:
                found.next_seq, found.inputs = record.seq, orjson.loads(record.payload)["inputs"]
            elif record.kind == EVENT and record.seq > found.acked_seq and found.oldest_unacked_created is None:
                found.oldest_unacked_created = orjson.loads(record.payload)["event"].get("created")
    if not found.inputs and ledger.get("resume"):
        found.next_seq, found.inputs = ledger["resume"]["next_seq"], ledger["resume"]["inputs"]
    return found


def _json(path: Path):
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
