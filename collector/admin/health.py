"""Readiness (``/readyz``): whether the collector can take batches, and how its sinks stand."""

from __future__ import annotations

from ..journal import Journal


class Readiness:
    def __init__(self, journal: Journal, runners: list, metrics, extra=None):
        self.journal = journal
        self.runners = runners  # sinks.runner.SinkRunner (the live ones: a list that may change)
        self.metrics = metrics
        self.extra = extra  # () -> dict: more to say (the sinks lease of a NATS journal)

    def __call__(self) -> tuple[bool, dict]:
        journal, metrics = self.journal, self.metrics
        failing = {r.sink.name: r.failing for r in self.runners if r.failing}
        metrics.journal_segments.set(journal.segments_held())
        sinks = {}
        for r in self.runners:
            lag = journal.bytes_behind(r.position) if r.position is not None else None
            if lag is not None:
                metrics.sink_lag.labels(r.sink.name).set(lag)
            sinks[r.sink.name] = {"lag_bytes": lag, "failing": r.failing or None}
        held = journal.bytes_held()
        metrics.journal_bytes.set(held)
        full = journal.full()
        # A sink outage degrades the collector but it still accepts (the journal holds the
        # events); it is unready only when it cannot journal.
        ready = journal.failing is None and not full
        status = "unavailable" if not ready else "degraded" if failing else "ok"
        return ready, {
            "status": status,
            "sinks": sinks,  # each sink's lag behind the journal's end (None before its first read)
            "sinks_failing": failing,
            "journal_failing": journal.failing,
            "journal_full": full,
            "journal_bytes": held,
            "journal_end": journal.end.encode(),
            **(self.extra() if self.extra else {}),
        }
