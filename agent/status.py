"""``auditseal-agent status``: what the agent holds, read from its state directory.

Read-only and safe while the agent runs: it scans spool segments without recovering them.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from auditseal.errors import Rejected
from auditseal.formats.event import parse_ts

from .spool import view


def collect(state_dir: Path) -> dict:
    spool = view(state_dir / "spool")
    dead_dir = state_dir / "dead-letter"
    malformed = dead_dir / "malformed.ndjson"
    started = _json(state_dir / "status.json") or {}
    return {
        "spool": {
            "segments": spool.segments,
            "bytes": spool.bytes,
            "next_seq": spool.next_seq,
            "acked_seq": spool.acked_seq,
            "unacked_events": max(spool.next_seq - 1 - spool.acked_seq, 0),
            "oldest_unacked_age_seconds": _age(spool.oldest_unacked_created),
            "declared_gaps": spool.declared_gaps,
        },
        "last_ack": _mtime(spool.ledger_path),
        "inputs": {
            name: {st.get("path", key): st.get("offset") for key, st in files.items()}
            for name, files in spool.inputs.items()
        },
        "dead_letters": {
            "malformed_lines": sum(1 for _ in malformed.open("rb")) if malformed.exists() else 0,
            "refused_batches": len(list(dead_dir.glob("batch-*.ndjson"))) if dead_dir.exists() else 0,
        },
        "degraded": started.get("degraded", []),
        "lost_at_start": started.get("lost", []),
    }


def render(status: dict) -> str:
    s = status["spool"]
    age = s["oldest_unacked_age_seconds"]
    lines = [
        f"spool:        {s['unacked_events']} unacked events, {s['bytes']} bytes in {s['segments']} segments",
        f"              next seq {s['next_seq']}, acked through {s['acked_seq']}"
        + (f", oldest unacked {age:.1f}s old" if age is not None else ""),
        f"last ack:     {_when(status['last_ack'])}",
        f"dead letters: {status['dead_letters']['malformed_lines']} malformed lines, "
        f"{status['dead_letters']['refused_batches']} refused batches",
    ]
    if s["declared_gaps"]:
        lines.append(f"gaps:         {', '.join(f'{a}-{b}' for a, b in s['declared_gaps'])} (declared upstream)")
    lines.append("degraded:     " + ("; ".join(status["degraded"]) if status["degraded"] else "no"))
    lines.append("inputs:")
    for name, files in sorted(status["inputs"].items()):
        for path, offset in sorted(files.items()):
            lines.append(f"  {name}  {path}  offset {offset}")
    return "\n".join(lines)


def _json(path: Path):
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _age(created: str | None) -> float | None:
    if not created:
        return None
    try:
        return max(time.time() - parse_ts(created).timestamp(), 0.0)
    except Rejected:
        return None


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) + f" ({time.time() - ts:.0f}s ago)"
