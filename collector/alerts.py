"""The alert store (SQLite): alerts, their deliveries per channel, and the alert sink's state.

- ``alerts``: one row per alert id, so a condition that persists alerts once. Alert id =
  SHA-256(rule ‖ tenant ‖ group key ‖ window start), 32 hex digits
  (``auditseal.rules.engine.alert_id``, the one definition; DESIGN.md section 8), reused as
  PagerDuty ``dedup_key`` and ``webhook-id``.
- ``deliveries``: one row per (alert, channel): ``pending`` (with its next attempt time),
  ``delivered`` or ``dead`` (the dead-letter list). An alert is delivered per channel, never
  "any succeeded"; a row written once is never written again by a replay.
- ``consumer_state``: the alert sink's journal cursor with its engine snapshot, written in the
  same transaction as the alerts they produced.
- ``alert_journal``: each alert's ordinal, the sequence number of its audit event in the
  collector's alert stream (so that event is journaled once: the journal drops numbers it has).
- ``findings_reported``: the verifier findings already raised (one event, one alert each).
"""

from __future__ import annotations

import base64
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import orjson

from auditseal.errors import Rejected

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
CREATE TABLE IF NOT EXISTS deliveries (
    alert_id    TEXT NOT NULL,
    channel     TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    first_at    REAL NOT NULL,
    next_at     REAL NOT NULL,
    last_status TEXT,
    last_error  TEXT,
    updated     REAL NOT NULL,
    PRIMARY KEY (alert_id, channel)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_at);
CREATE TABLE IF NOT EXISTS consumer_state (
    consumer TEXT PRIMARY KEY,
    cursor   TEXT NOT NULL,
    snapshot BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_journal (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS findings_reported (
    group_key TEXT PRIMARY KEY,
    tenant    TEXT NOT NULL,
    at        TEXT NOT NULL
);
"""
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


@dataclass(frozen=True)
class Alert:
    alert_id: str
    rule: str
    tenant: str
    created: str
    summary: str
    details: dict

    def to_json(self) -> dict:
        return {
            "alert_id": self.alert_id,
            "rule": self.rule,
            "tenant": self.tenant,
            "created": self.created,
            "summary": self.summary,
            "details": self.details,
        }


@dataclass(frozen=True)
class Delivery:
    alert: dict  # the alert as stored (``Alert.to_json``)
    channel: str
    attempts: int
    first_at: float


def encode_cursor(created: str, alert_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created}\x1f{alert_id}".encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[str, str]:
    try:
        created, alert_id = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode().split("\x1f")
    except (ValueError, UnicodeDecodeError):
        raise Rejected("bad_query", "cursor: not a cursor this API gave out") from None
    return created, alert_id


class AlertStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the worker threads, one statement at a time.
        self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- writing ------------------------------------------------------------------------------
    def _insert(self, alert: Alert, channels: list[str], now: float) -> bool:
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO alerts (alert_id, rule, tenant, created, summary, doc) VALUES (?, ?, ?, ?, ?, ?)",
            (alert.alert_id, alert.rule, alert.tenant, alert.created, alert.summary, orjson.dumps(alert.details)),
        )
        if cur.rowcount != 1:
            return False
        self._conn.execute("INSERT INTO alert_journal (alert_id) VALUES (?)", (alert.alert_id,))
        self._conn.executemany(
            "INSERT OR IGNORE INTO deliveries (alert_id, channel, tenant, state, first_at, next_at, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(alert.alert_id, channel, alert.tenant, PENDING, now, now, now) for channel in channels],
        )
        return True

    def record(self, alert: Alert, channels: tuple[str, ...] = (), now: float = 0.0) -> bool:
        """Store the alert (and a pending delivery per channel); False when it exists already."""
        return bool(self.commit([(alert, list(channels))], now=now))

    def commit(
        self,
        alerts: list[tuple[Alert, list[str]]],
        consumer: str | None = None,
        cursor: str | None = None,
        snapshot: bytes | None = None,
        now: float = 0.0,
    ) -> list[Alert]:
        """In one transaction: the alerts not stored yet with their deliveries, and (when given)
        the consumer's cursor and snapshot. Returns the alerts that were new."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                new = [alert for alert, channels in alerts if self._insert(alert, channels, now)]
                if consumer is not None:
                    self._conn.execute(
                        "INSERT OR REPLACE INTO consumer_state (consumer, cursor, snapshot) VALUES (?, ?, ?)",
                        (consumer, cursor, snapshot),
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return new

    def unjournaled(self, after: int, limit: int = 1000) -> list[tuple[int, dict]]:
        """Alerts numbered after ``after`` (the alert stream's journal mark), in order."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT j.seq, a.alert_id, a.rule, a.tenant, a.created, a.summary, a.doc FROM alert_journal j "
                "JOIN alerts a USING (alert_id) WHERE j.seq > ? ORDER BY j.seq LIMIT ?",
                (after, limit),
            ).fetchall()
        return [(seq, Alert(a, r, t, c, s, orjson.loads(d)).to_json()) for seq, a, r, t, c, s, d in rows]

    def load_state(self, consumer: str) -> tuple[str, bytes] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT cursor, snapshot FROM consumer_state WHERE consumer = ?", (consumer,)
            ).fetchone()
        return (row[0], bytes(row[1])) if row else None

    # -- deliveries ----------------------------------------------------------------------------
    def due(self, now: float, channels: list[str], limit: int = 100) -> list[Delivery]:
        """Pending deliveries whose next attempt is due, oldest first."""
        if not channels:
            return []
        marks = ",".join("?" * len(channels))
        with self._lock:
            rows = self._conn.execute(
                "SELECT d.channel, d.attempts, d.first_at, a.alert_id, a.rule, a.tenant, a.created, a.summary, a.doc "
                f"FROM deliveries d JOIN alerts a USING (alert_id) WHERE d.state = ? AND d.next_at <= ? "
                f"AND d.channel IN ({marks}) ORDER BY d.next_at LIMIT ?",
                (PENDING, now, *channels, limit),
            ).fetchall()
        return [
            Delivery(Alert(a, r, t, c, s, orjson.loads(doc)).to_json(), channel, attempts, first_at)
            for channel, attempts, first_at, a, r, t, c, s, doc in rows
        ]

    def next_due(self, channels: list[str]) -> float | None:
        if not channels:
            return None
        marks = ",".join("?" * len(channels))
        with self._lock:
            row = self._conn.execute(
                f"SELECT MIN(next_at) FROM deliveries WHERE state = ? AND channel IN ({marks})", (PENDING, *channels)
            ).fetchone()
        return row[0]

    def mark(
        self,
        alert_id: str,
        channel: str,
        state: str,
        attempts: int,
        next_at: float,
        status: str,
        error: str,
        now: float,
    ) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE deliveries SET state = ?, attempts = ?, next_at = ?, last_status = ?, last_error = ?, "
                "updated = ? WHERE alert_id = ? AND channel = ?",
                (state, attempts, next_at, status, error, now, alert_id, channel),
            )

    def counts(self) -> dict[tuple[str, str], int]:
        """(channel, state) → deliveries (for the metrics gauges)."""
        with self._lock:
            rows = self._conn.execute("SELECT channel, state, COUNT(*) FROM deliveries GROUP BY channel, state")
            return {(c, s): n for c, s, n in rows.fetchall()}

    # -- reading -------------------------------------------------------------------------------
    def query(
        self,
        tenant: str,
        limit: int = 100,
        rule: str | None = None,
        severity: str | None = None,
        since: str | None = None,
        until: str | None = None,
        cursor: str | None = None,
    ) -> tuple[list[dict], str | None]:
        """The tenant's alerts, newest first, with each channel's delivery; and the cursor of
        the next page (None on the last)."""
        where, args = ["tenant = ?"], [tenant]
        filters = (
            ("rule = ?", rule),
            ("json_extract(doc, '$.severity') = ?", severity),
            ("created >= ?", since),
            ("created <= ?", until),
        )
        for clause, value in filters:
            if value:
                where.append(clause)
                args.append(value)
        if cursor:
            where.append("(created, alert_id) < (?, ?)")
            args.extend(decode_cursor(cursor))
        with self._lock:
            rows = self._conn.execute(
                "SELECT alert_id, rule, tenant, created, summary, doc FROM alerts WHERE "
                + " AND ".join(where)
                + " ORDER BY created DESC, alert_id DESC LIMIT ?",
                (*args, limit + 1),
            ).fetchall()
            found = [Alert(a, r, t, c, s, orjson.loads(d)).to_json() for a, r, t, c, s, d in rows[:limit]]
            for alert in found:
                alert["deliveries"] = self._deliveries(alert["alert_id"])
        nxt = encode_cursor(found[-1]["created"], found[-1]["alert_id"]) if len(rows) > limit else None
        return found, nxt

    def _deliveries(self, alert_id: str) -> dict:
        rows = self._conn.execute(
            "SELECT channel, state, attempts, last_status, last_error FROM deliveries WHERE alert_id = ?", (alert_id,)
        ).fetchall()
        return {c: {"state": s, "attempts": n, "last_status": st, "last_error": e} for c, s, n, st, e in rows}

    def dead_letters(self, tenant: str, limit: int = 100) -> list[dict]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT d.alert_id, d.channel, d.attempts, d.last_status, d.last_error, d.updated, a.rule, a.summary "
                "FROM deliveries d JOIN alerts a USING (alert_id) WHERE d.tenant = ? AND d.state = ? "
                "ORDER BY d.updated DESC LIMIT ?",
                (tenant, DEAD, limit),
            ).fetchall()
        keys = ("alert_id", "channel", "attempts", "last_status", "last_error", "updated", "rule", "summary")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def details_of_rule(self, rule: str) -> list[tuple[str, str, dict]]:
        with self._lock:
            rows = self._conn.execute("SELECT tenant, created, doc FROM alerts WHERE rule = ?", (rule,)).fetchall()
        return [(t, c, orjson.loads(d)) for t, c, d in rows]

    # -- verifier findings ---------------------------------------------------------------------
    def findings_known(self, groups: list[str]) -> list[bool]:
        with self._lock:
            return [
                self._conn.execute("SELECT 1 FROM findings_reported WHERE group_key = ?", (g,)).fetchone() is not None
                for g in groups
            ]

    def record_finding(self, group: str, tenant: str, at: str) -> bool:
        """Note a finding as raised; False when it was already."""
        with self._lock:
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO findings_reported (group_key, tenant, at) VALUES (?, ?, ?)", (group, tenant, at)
            )
            return cur.rowcount == 1
