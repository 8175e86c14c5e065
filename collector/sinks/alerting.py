"""The alert sink: the rule engine (``auditseal.rules.engine``, pure) as a journal consumer.

Each batch's events go through the engine; the alerts it fires are stored with a pending
delivery per channel (``collector.alerts``), and every so often (``snapshot_every``) the
engine's state is written with the cursor it belongs to, in the same transaction. After a
crash the sink starts from that snapshot and replays the journal after its cursor: the engine
is deterministic, so the replay fires the same alerts with the same ids, which the store
already holds — no window alerts twice, no delivery is queued twice.

Every alert is also an audit event in its tenant's log (``alert_event``), journaled under the
sink's own stream ``collector.<id>.alerts`` with the alert's ordinal in the store as its
sequence number: the journal drops a number it holds already, so an alert event is journaled
exactly once even when a crash falls between the store and the journal. The sink never
evaluates those events (no alert about an alert).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Callable

import orjson

from auditseal.formats.event import canonical_bytes, event_id, parse_ts, utc_now_iso
from auditseal.logs import kv
from auditseal.rules.engine import Alert as Fired
from auditseal.rules.engine import Engine

from ..alerts import Alert, AlertStore
from ..journal import BatchMeta, Cursor, Journal, Write, encode_batch
from .base import Batch, SinkUnavailable

log = logging.getLogger("auditseal.collector.alerting")
ALERT_ACTION = "alert_fired"


def alert_stream(collector_id: str) -> str:
    return f"collector.{collector_id}.alerts"


def is_alert_stream(agent: str) -> bool:
    """Alert events of any collector (the scaled deployment shares one journal)."""
    return agent.startswith("collector.") and agent.endswith(".alerts")


def stored_alert(fired: Fired, now: str) -> Alert:
    details = {k: v for k, v in fired.to_json().items() if k not in ("alert_id", "rule", "tenant", "summary")}
    return Alert(fired.alert_id, fired.rule, fired.tenant, fired.at, fired.summary, {**details, "fired": now})


def alert_event(alert: dict, agent: str, sequence: int) -> dict:
    """The ECS event an alert is in its tenant's log (pure)."""
    d = alert["details"]
    return {
        "@timestamp": d.get("fired") or alert["created"],
        "event": {
            "action": ALERT_ACTION,
            "kind": "alert",
            "category": ["intrusion_detection"],
            "type": ["info"],
            "dataset": "auditseal.alerts",
            "severity": {"low": 21, "medium": 47, "high": 73, "critical": 99}.get(d.get("severity", ""), 47),
            "reason": alert["summary"],
            "start": d.get("window_start"),
            "end": d.get("at"),
            "sequence": sequence,
            "id": event_id(agent, sequence),
        },
        "organization": {"id": alert["tenant"]},
        "agent": {"id": agent},
        "rule": {"name": alert["rule"], "id": alert["alert_id"]},
        "message": alert["summary"],
        "labels": {"alert_id": alert["alert_id"], "severity": d.get("severity", "medium")},
        "related": {"hash": [alert["alert_id"]]},
        "auditseal": {"alert": {"group": d.get("group", []), "events": d.get("events", [])}},
    }


def alert_writes(agent: str, pending: list[tuple[int, dict]], ingested: str) -> list[Write]:
    """Journal writes for alerts numbered ``seq`` (ascending): one per run of one tenant, so
    the stream's mark only ever moves forward (pure)."""
    writes: list[Write] = []
    run: list[tuple[int, dict]] = []

    def flush():
        if run:
            lines = [canonical_bytes(alert_event(alert, agent, seq)) for seq, alert in run]
            meta = BatchMeta(agent, run[0][1]["tenant"], ingested)
            writes.append(Write(agent, run[-1][0], encode_batch(meta, lines)))
            run.clear()

    for seq, alert in pending:
        if run and run[-1][1]["tenant"] != alert["tenant"]:
            flush()
        run.append((seq, alert))
    flush()
    return writes


class AlertSink:
    name = "alerts"
    quarantine = None  # an event the engine cannot use is counted, never set aside

    def __init__(
        self,
        store: AlertStore,
        rules: list,
        channels_for: Callable[[object], list[str]],
        journal: Journal,
        collector_id: str,
        metrics,
        lateness_ms: int = 300_000,
        tz_of: Callable[[str], str] | None = None,
        snapshot_every: float = 5.0,
        on_new: Callable[[], None] = lambda: None,
    ):
        self.on_new = on_new  # new alerts are stored (the dispatcher looks at once)
        self.store = store
        self.rules = rules
        self.channels = {rule.name: channels_for(rule) for rule in rules}
        self.journal = journal
        self.agent = alert_stream(collector_id)
        self.metrics = metrics
        self.lateness = lateness_ms
        self.tz_of = tz_of
        self.snapshot_every = snapshot_every
        self.engine = Engine(rules, lateness_ms, tz_of)
        self.durable: Cursor | None = None  # the cursor of the stored snapshot
        self.processed: Cursor | None = None  # the cursor the engine's state is at
        self._snapshot_at = 0.0
        self._stale = False  # the engine is ahead of the stored snapshot after a failure
        self._exported: Counter = Counter()
        self._next_rules: tuple[list, dict] | None = None

    def replace_rules(self, rules: list, channels_for: Callable[[object], list[str]]) -> None:
        """SIGHUP: evaluate from the next batch on with these rules (between batches, never
        during one); the windows, history and throttles of rules that stay carry over."""
        self._next_rules = (rules, {rule.name: channels_for(rule) for rule in rules})

    def _swap_rules(self) -> None:
        assert self._next_rules is not None
        self.rules, self.channels = self._next_rules
        self._next_rules = None
        names = {rule.name for rule in self.rules}
        state = self.engine.snapshot()
        for part in ("windows", "history"):
            state[part] = {name: groups for name, groups in state[part].items() if name in names}
        self.engine = Engine(self.rules, self.lateness, self.tz_of, state=state)
        self._exported = Counter()
        log.info("alert rules replaced", extra=kv(rules=len(self.rules)))

    # -- state ----------------------------------------------------------------------------------
    def _restore(self) -> Cursor | None:
        found = self.store.load_state(self.name)
        state = orjson.loads(found[1]) if found else None
        self.engine = Engine(self.rules, self.lateness, self.tz_of, state=state)
        self._exported = Counter()
        self.durable = self.processed = Cursor.decode(found[0]) if found else None
        self._stale = False
        return self.durable

    async def open(self) -> Cursor | None:
        try:
            cursor = await asyncio.to_thread(self._restore)
        except Exception as exc:
            raise SinkUnavailable(f"alert store {self.store.path}: {exc}") from exc
        await self._journal_pending()
        return cursor

    # -- evaluation ------------------------------------------------------------------------------
    def _evaluate(self, batch: Batch, snapshot: bool) -> tuple[list[Fired], str | None, bytes | None]:
        fired: list[Fired] = []
        ingested = None
        for meta, doc in batch.documents():
            if is_alert_stream(meta.agent):
                continue
            ingested = meta.ingested
            if doc is None:
                self.engine.stats["unusable", ""] += 1
                continue
            fired.extend(self.engine.process(doc))
        return fired, ingested, orjson.dumps(self.engine.snapshot()) if snapshot else None

    async def process(self, batch: Batch) -> Cursor | None:
        try:
            if self._next_rules is not None:
                self._swap_rules()
            if self._stale:  # the last restore failed: never evaluate on from an advanced state
                await asyncio.to_thread(self._restore)
                raise SinkUnavailable("alert sink restored its snapshot; replaying", replay_from=self.durable)
            now = time.time()
            snapshot = now - self._snapshot_at >= self.snapshot_every
            # Off the event loop: the rules and the snapshot are CPU work.
            fired, ingested, state = await asyncio.to_thread(self._evaluate, batch, snapshot)
            stamp = utc_now_iso()
            rows = [(stored_alert(a, stamp), self.channels.get(a.rule, [])) for a in fired]
            if rows or snapshot:
                new = await asyncio.to_thread(
                    self.store.commit,
                    rows,
                    self.name if snapshot else None,
                    batch.end.encode(),
                    state,
                    now,
                )
                if snapshot:
                    self.durable, self._snapshot_at = batch.end, now
                if new:
                    self.on_new()
                for alert in new:
                    log.warning("alert fired", extra=kv(rule=alert.rule, tenant=alert.tenant, alert_id=alert.alert_id))
            self.processed = batch.end
        except SinkUnavailable:
            raise
        except Exception as exc:
            # Back to the last snapshot: the runner replays from its cursor (nothing counted twice).
            self._stale = True
            try:
                await asyncio.to_thread(self._restore)
            except Exception:
                pass  # still stale: the next batch restores first
            raise SinkUnavailable(f"alert sink: {type(exc).__name__}: {exc}", replay_from=self.durable) from exc
        self._export_stats(ingested)
        await self._journal_pending()
        return self.durable

    async def _journal_pending(self) -> None:
        """Alerts stored but not yet in the journal (numbered after the stream's mark) go in.
        A failure here (the journal full) leaves them for the next batch: it never stops rules."""
        try:
            await self.journal.refresh(self.agent)
            pending = await asyncio.to_thread(self.store.unjournaled, self.journal.marks.acked(self.agent))
            if pending:
                await self.journal.append(alert_writes(self.agent, pending, utc_now_iso()))
        except Exception as exc:
            self.metrics.alert_journal_errors.inc()
            log.error("alert events not journaled yet; will retry", extra=kv(error=f"{type(exc).__name__}: {exc}"))

    def _export_stats(self, ingested: str | None) -> None:
        stats = self.engine.stats
        names = {
            "evaluations": self.metrics.rule_evaluations,
            "matches": self.metrics.rule_matches,
            "alerts": self.metrics.alerts_fired,
            "suppressed": self.metrics.alerts_suppressed,
            "missing_group": self.metrics.rule_missing_group,
        }
        for (what, rule), n in stats.items():
            delta = n - self._exported[what, rule]
            if delta <= 0:
                continue
            self._exported[what, rule] = n
            if what in names:
                names[what].labels(rule).inc(delta)
            else:  # late, duplicates, unusable: not per rule
                self.metrics.rule_events_skipped.labels(what).inc(delta)
        if ingested:
            try:
                lag = time.time() - parse_ts(ingested).timestamp()
            except Exception:
                return
            self.metrics.alert_lag.set(max(lag, 0.0))

    async def checkpoint(self) -> Cursor | None:
        """The runner is caught up: snapshot now if the engine is past the stored snapshot."""
        if self.processed is None or self.processed == self.durable:
            return None
        at, now = self.processed, time.time()
        state = await asyncio.to_thread(lambda: orjson.dumps(self.engine.snapshot()))
        await asyncio.to_thread(self.store.commit, [], self.name, at.encode(), state, now)
        self.durable, self._snapshot_at = at, now
        return at

    async def close(self) -> None:
        """A last snapshot, so a clean restart replays nothing."""
        await self.checkpoint()
