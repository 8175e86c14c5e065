"""Where the collector's indexes keep events: one definition, shared by the collector's
sinks (which write them) and the offline verifier (``verify --index``, which reads them).

SQLite: table ``events``, one row per stored event, ``doc`` = its canonical bytes (exactly
the sealed leaf). Elasticsearch: one data stream per tenant under ``logs-auditseal.audit-``.
"""

from __future__ import annotations

SQLITE_EVENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id  TEXT NOT NULL UNIQUE,
    tenant    TEXT NOT NULL,
    ts        TEXT NOT NULL,
    user_name TEXT,
    action    TEXT NOT NULL,
    outcome   TEXT,
    agent_id  TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    doc       BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_tenant_ts ON events (tenant, ts);
CREATE INDEX IF NOT EXISTS events_tenant_user_ts ON events (tenant, user_name, ts);
CREATE INDEX IF NOT EXISTS events_tenant_action_ts ON events (tenant, action, ts);
"""
SQLITE_INSERT = (
    "INSERT OR IGNORE INTO events (event_id, tenant, ts, user_name, action, outcome, "
    "agent_id, seq, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SQLITE_TENANT_ROWS = "SELECT event_id, agent_id, seq, doc FROM events WHERE tenant = ?"

ES_DATASET = "auditseal.audit"
ES_STREAM_PREFIX = f"logs-{ES_DATASET}-"
ES_STREAM_PATTERN = f"{ES_STREAM_PREFIX}*"
