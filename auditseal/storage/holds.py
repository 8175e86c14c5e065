"""Legal holds on a time range of an S3 archive (``auditseal archive hold``).

A segment is held when the span of its events (``events-from``/``events-to`` metadata
written by the sealer) overlaps the range; the log's checkpoints are held with it, since
proofs for the held events need them. S3 legal holds are on/off per object version, so
lifting a hold lifts it from every object in the range, whoever placed it.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditseal.formats.event import normalise_ts
from auditseal.storage import archive


@dataclass(frozen=True)
class HoldResult:
    segments: list[str]
    checkpoints: list[str]


def overlaps(first_ts: str, last_ts: str, since: str, until: str) -> bool:
    """Event span [first_ts, last_ts] meets [since, until) (ISO 8601 UTC, comparable as text)."""
    return bool(first_ts) and first_ts < until and last_ts >= since


def apply_hold(store, since: str, until: str, on: bool, tenant: str | None = None) -> HoldResult:
    since, until = normalise_ts(since), normalise_ts(until)
    segments, checkpoints = [], []
    for log_tenant, partition in archive.list_logs(store):
        if tenant and log_tenant != tenant:
            continue
        name = f"{log_tenant}/{partition}"
        held_here = []
        for key in store.list(f"{name}/segments/"):
            meta = store.metadata(key)
            if overlaps(meta.get("events-from", ""), meta.get("events-to", ""), since, until):
                store.set_legal_hold(key, on)
                held_here.append(key)
        if held_here:
            for key in store.list(f"{name}/checkpoints/"):
                store.set_legal_hold(key, on)
                checkpoints.append(key)
        segments.extend(held_here)
    return HoldResult(segments, checkpoints)
