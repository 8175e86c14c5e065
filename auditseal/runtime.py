"""Process-wide settings shared by the agent and the collector."""

from __future__ import annotations

import gc


def tune_gc() -> None:
    """Fewer garbage-collector passes on the hot path.

    Events are short-lived dicts without reference cycles, so collecting every 700
    allocations (the default) mostly re-scans live batches; profiles showed it costing
    a large share of per-event time. Start-up objects are frozen out of collection.
    """
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)
