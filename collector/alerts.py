"""The alert store: one row per alert id, so a condition that persists alerts once.

Alert id = SHA-256(rule ‖ tenant ‖ group key ‖ window start), truncated to 32 hex digits
(``auditseal.rules.engine.alert_id``, the one definition)
(DESIGN.md section 8): reused later as PagerDuty ``dedup_key`` and webhook id.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import orjson


SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY,
    rule     TEXT NOT NULL,
    tenant   TEXT NOT NULL,
    created  TEXT NOT NULL,
    summary  TEXT NOT NULL,
    doc      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_tenant_created ON alerts (tenant, created);
"""


@dataclass(frozen=True)
class Alert:
    alert_id: str
    rule: str
    tenant: str
    created: str
    summary: str
    details: dict


class AlertStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        conn.executescript(SCHEMA)
        conn.close()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def record(self, alert: Alert) -> bool:
        """Store the alert; False when an alert with this id exists already."""
        conn = self._connect()
        try:
            with conn:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO alerts (alert_id, rule, tenant, created, summary, doc) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        alert.alert_id,
                        alert.rule,
                        alert.tenant,
                        alert.created,
                        alert.summary,
                        orjson.dumps(alert.details),
                    ),
                )
            return cur.rowcount == 1
        finally:
            conn.close()

    def known(self, alerts: list[Alert]) -> list[bool]:
        """Whether each alert's id is stored already."""
        conn = self._connect()
        try:
            return [
                conn.execute("SELECT 1 FROM alerts WHERE alert_id = ?", (a.alert_id,)).fetchone() is not None
                for a in alerts
            ]
        finally:
            conn.close()

    def list(self, tenant: str, limit: int = 100) -> list[dict]:
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT alert_id, rule, tenant, created, summary, doc FROM alerts "
                "WHERE tenant = ? ORDER BY created DESC LIMIT ?",
                (tenant, limit),
            ).fetchall()
        finally:
            conn.close()
        return [
            {"alert_id": a, "rule": r, "tenant": t, "created": c, "summary": s, "details": orjson.loads(d)}
            for a, r, t, c, s, d in rows
        ]
