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


def one_malloc_arena() -> None:
    """glibc gives each thread that allocates its own malloc arena, and each keeps the memory
    its peak took; the agent's few worker threads (spool writes, HTTP) then hold several
    copies of a batch's worth of freed memory. One arena for all: 3 MiB less resident at peak,
    no measurable cost (measured with ``bench/e2e.py``). No-op where mallopt is missing."""
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(-8, 1)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass
