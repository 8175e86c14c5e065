"""Scheduled self-verification: the collector verifies its own archive (as ``auditseal
verify`` would, with a state file so truncation and rollback show) and turns each new
finding into an ``integrity_failure`` security event in the tenant's own log; the alert sink's
built-in ``integrity-failure`` rule turns each such event into one alert.

The events go through the journal like any agent's, under the collector's own stream
(agent id ``collector.<id>``), so they are indexed, sealed and deduplicated the same way.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from pathlib import Path

import orjson

from auditseal.audit.verify import (
    CHECKPOINT_MISSING,
    LOG_MISSING,
    SEGMENT_MISSING,
    TRUNCATION,
    Finding,
    Report,
    verify_store,
)
from auditseal.formats.event import event_id, utc_now_iso
from auditseal.formats.note import Verifier
from auditseal.logs import kv
from auditseal.storage import archive
from auditseal.storage.files import write_atomic

from .alerts import AlertStore
from .journal import Journal
from .journal.own_stream import OwnStream

log = logging.getLogger("auditseal.collector.integrity")
RULE = "integrity_failure"


def finding_event(finding: Finding, agent: str, sequence: int, now: str) -> dict:
    """The ECS security event for one verifier finding (pure)."""
    return {
        "@timestamp": now,
        "event": {
            "action": RULE,
            "kind": "alert",
            "category": ["intrusion_detection"],
            "type": ["info"],
            "outcome": "failure",
            "reason": finding.detail,
            "sequence": sequence,
            "created": now,
            "id": event_id(agent, sequence),
        },
        "organization": {"id": finding.log.split("/")[0]},
        "agent": {"id": agent},
        "rule": {"name": RULE},
        "message": finding.line(),
        "labels": {
            "finding_code": finding.code,
            "log": finding.log,
            "object": finding.object,
            "first_leaf": finding.first,
            "last_leaf": finding.last,
            "incident": alert_group(finding),
        },
    }


# Findings that say leaves are gone. One loss is seen through different evidence as the
# archive moves on: a deleted log is LOG_MISSING, then (once the sealer has added to the
# log again) CHECKPOINT_MISSING over the same leaves — one incident, one alert.
LOSS_CODES = frozenset({LOG_MISSING, CHECKPOINT_MISSING, SEGMENT_MISSING, TRUNCATION})


def alert_group(finding: Finding) -> str:
    """What makes two findings the same incident (pure)."""
    if finding.code in LOSS_CODES and finding.first is not None:
        return f"lost|{finding.log}|{finding.first}-{finding.last}"
    return f"{finding.code}|{finding.object}|{finding.first}-{finding.last}"


def confirmed(first: list[Finding], second: list[Finding]) -> list[Finding]:
    """Findings of ``second`` that ``first`` saw as well (pure): what a write or a removal
    in progress showed for a moment (a segment whose checkpoint is being written, a log
    half-deleted) is not an incident."""
    seen = {alert_group(f) for f in first}
    return [f for f in second if alert_group(f) in seen]


def adopt_legacy_alerts(alerts: AlertStore) -> None:
    """Data from before the alert sink: the verifier's alerts were rows of their own
    (rule ``integrity_failure``); their findings count as raised, so none is raised again."""
    for tenant, created, d in alerts.details_of_rule(RULE):
        finding = Finding(d["code"], d["log"], d["first_leaf"], d["last_leaf"], d["object"], d["detail"])
        alerts.record_finding(alert_group(finding), tenant, created)


class IntegrityMonitor:
    def __init__(
        self,
        store: archive.LocalStore,
        verifiers: list[Verifier],
        state_path: Path,
        journal: Journal,
        alerts: AlertStore,
        own: OwnStream,
        metrics,
        cipher=None,
        confirm_after: float = 1.0,
    ):
        self.confirm_after = confirm_after
        self.store = store
        self.verifiers = verifiers
        self.state_path = Path(state_path)
        self.journal = journal
        self.alerts = alerts
        self.own = own
        self.cipher = cipher
        self.metrics = metrics
        self.last_report: Report | None = None
        self.last_at: str | None = None
        adopt_legacy_alerts(alerts)

    def verify(self) -> Report:
        state = orjson.loads(self.state_path.read_bytes()) if self.state_path.exists() else None
        # Locked objects (S3 Object Lock) cannot change: verify what is new since the last run
        # instead of downloading the whole archive every time. Files can change: all of them.
        report = verify_store(self.store, self.verifiers, state, cipher=self.cipher, incremental=self.store.immutable)
        write_atomic(self.state_path, orjson.dumps(report.state))
        return report

    async def check(self) -> list[Finding]:
        """Verify, record alerts, journal an event per new finding; returns the new findings."""
        report = await asyncio.to_thread(self.verify)
        findings = report.findings
        known = self.alerts.findings_known
        if findings and not all(await asyncio.to_thread(known, [alert_group(f) for f in findings])):
            # Something not alerted yet: look again once writes in flight have landed.
            await asyncio.sleep(self.confirm_after)
            report = await asyncio.to_thread(self.verify)
            findings = confirmed(findings, report.findings)
        self.last_report, self.last_at = report, utc_now_iso()
        self.metrics.verify_runs.labels("findings" if report.findings else "clean").inc()
        for code in {f.code for f in report.findings}:
            self.metrics.integrity_findings.labels(code).inc(sum(1 for f in report.findings if f.code == code))
        now = utc_now_iso()
        record = self.alerts.record_finding
        new = [f for f in findings if await asyncio.to_thread(record, alert_group(f), f.log.split("/")[0], now)]
        if new:
            await self._journal(new, now)
            for f in new:
                log.error("archive integrity failure", extra=kv(finding=f.line()))
        log.info("archive verified", extra=kv(summary=report.summary, findings=len(report.findings), new=len(new)))
        return new

    async def _journal(self, findings: list[Finding], now: str) -> None:
        await self.own.append(
            [(f.log.split("/")[0], partial(finding_event, f, self.own.agent, now=now)) for f in findings], now
        )
