"""Where the collector's indexes keep events: one definition, shared by the collector's
sinks (which write them) and the offline verifier (``verify --index``, which reads them).

SQLite: table ``events``, one row per stored event, ``doc`` = its canonical bytes (exactly
the sealed leaf). Elasticsearch: one data stream per tenant under ``logs-auditseal.audit-``.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

SQLITE_VERSION = 4  # PRAGMA user_version; 0/1 = the first layout (no filter columns, no text index)
SQLITE_EVENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id  TEXT NOT NULL,
    tenant    TEXT NOT NULL,
    ts        TEXT NOT NULL,
    user_name TEXT,
    action    TEXT NOT NULL,
    outcome   TEXT,
    agent_id  TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    doc       BLOB NOT NULL,
    target_user TEXT,
    categories  TEXT,
    source_ip   TEXT,
    host        TEXT,
    message     TEXT
);
"""
# Version 2: the admin API's filters as columns (``categories`` = ``|a|b|``, ``source_ip``
# in canonical form), ``message`` words in an FTS5 index kept by triggers, and indexes that
# end in event_id so ``(ts, event_id)`` cursors walk them in order.
SQLITE_TEXT_TOKENIZE = "unicode61 remove_diacritics 0 tokenchars '_'"  # the words of ``message``
SQLITE_V2_SCHEMA = f"""
CREATE INDEX IF NOT EXISTS events_tenant_ts_id ON events (tenant, ts, event_id);
CREATE INDEX IF NOT EXISTS events_tenant_user_ts_id ON events (tenant, user_name, ts, event_id);
CREATE INDEX IF NOT EXISTS events_tenant_action_ts_id ON events (tenant, action, ts, event_id);
DROP INDEX IF EXISTS events_tenant_ts;
DROP INDEX IF EXISTS events_tenant_user_ts;
DROP INDEX IF EXISTS events_tenant_action_ts;
CREATE VIRTUAL TABLE IF NOT EXISTS events_text USING fts5(
    message, content='events', content_rowid='rowid', tokenize="{SQLITE_TEXT_TOKENIZE}"
);
CREATE TRIGGER IF NOT EXISTS events_text_add AFTER INSERT ON events BEGIN
    INSERT INTO events_text (rowid, message) VALUES (new.rowid, new.message);
END;
CREATE TRIGGER IF NOT EXISTS events_text_del AFTER DELETE ON events BEGIN
    INSERT INTO events_text (events_text, rowid, message) VALUES ('delete', old.rowid, old.message);
END;
"""
# Version 3: what ``/v1/agents`` shows, kept per (tenant, agent) by triggers in the writer's
# own transaction (O(agents) to read, not a scan of the tenant): events held, the highest
# sequence and the newest @timestamp stored (the last two are not lowered when retention
# deletes events).
SQLITE_V3_TABLE = """
CREATE TABLE IF NOT EXISTS agent_stats (
    tenant TEXT NOT NULL, agent_id TEXT NOT NULL, events INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    last_ts TEXT NOT NULL, PRIMARY KEY (tenant, agent_id)
) WITHOUT ROWID
"""
SQLITE_V3_TRIGGERS = (
    """CREATE TRIGGER agent_stats_add AFTER INSERT ON events BEGIN
    INSERT INTO agent_stats (tenant, agent_id, events, last_seq, last_ts)
    VALUES (new.tenant, new.agent_id, 1, new.seq, new.ts)
    ON CONFLICT (tenant, agent_id) DO UPDATE SET events = events + 1,
        last_seq = max(last_seq, excluded.last_seq), last_ts = max(last_ts, excluded.last_ts);
END""",
    """CREATE TRIGGER agent_stats_del AFTER DELETE ON events BEGIN
    UPDATE agent_stats SET events = events - 1 WHERE tenant = old.tenant AND agent_id = old.agent_id;
END""",
)
SQLITE_V3_FILL = (
    "INSERT INTO agent_stats (tenant, agent_id, events, last_seq, last_ts) "
    "SELECT tenant, agent_id, count(*), max(seq), max(ts) FROM events GROUP BY tenant, agent_id"
)
# Version 4: events are told apart by (agent_id, seq) — event.id is derived from exactly that
# pair — instead of a unique index on the random event_id. Each agent's sequence rises, so
# inserts land at a few places in that index rather than anywhere: the index keeps its rate
# as the table grows (a random unique key made it 2x slower by 1.5M rows). Earlier layouts
# declared event_id UNIQUE in the table: that table is rebuilt, rowids kept (the text index
# refers to them).
SQLITE_V4_UNIQUE = "CREATE UNIQUE INDEX IF NOT EXISTS events_agent_seq ON events (agent_id, seq)"
SQLITE_COLUMNS = (
    "event_id, tenant, ts, user_name, action, outcome, agent_id, seq, doc, "
    "target_user, categories, source_ip, host, message"
)
SQLITE_V1_COLUMNS = ("target_user", "categories", "source_ip", "host", "message")
SQLITE_INSERT = (
    "INSERT OR IGNORE INTO events (event_id, tenant, ts, user_name, action, outcome, "
    "agent_id, seq, doc, target_user, categories, source_ip, host, message) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The same rows from one JSON array of arrays (the columns in SQLITE_INSERT's order, ``doc`` as
# a string): one statement, so SQLite stores a whole chunk without taking the GIL back per row.
SQLITE_INSERT_JSON = (
    "INSERT OR IGNORE INTO events (event_id, tenant, ts, user_name, action, outcome, "
    "agent_id, seq, doc, target_user, categories, source_ip, host, message) "
    "SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7, "
    "CAST(value->>8 AS BLOB), value->>9, value->>10, value->>11, value->>12, value->>13 FROM json_each(?)"
)
SQLITE_TENANT_ROWS = "SELECT event_id, agent_id, seq, doc FROM events WHERE tenant = ?"
SQLITE_TENANT_FULL_ROWS = f"SELECT rowid, {SQLITE_COLUMNS} FROM events WHERE tenant = ?"


def sqlite_row(doc: dict, stored: bytes) -> tuple:
    """An event's row, in ``SQLITE_COLUMNS`` order: every column but ``doc`` (``stored``, its
    canonical bytes) derives from the document, so the verifier can check a row's filter
    columns against it. Raises (KeyError, TypeError) for a document that is not storable."""
    event = doc["event"]
    user = doc.get("user") or {}
    target = _object(user.get("target"))
    categories = event.get("category")
    if isinstance(categories, str):
        categories = [categories]
    cats = [c for c in categories or [] if isinstance(c, str)]
    source = _object(doc.get("source"))
    host = _object(doc.get("host"))
    ip = _text(source.get("ip"))
    return (
        event["id"],
        doc["organization"]["id"],
        doc["@timestamp"],
        user.get("name") or user.get("id"),
        event["action"],
        event.get("outcome"),
        doc["agent"]["id"],
        event["sequence"],
        stored,
        _text(target.get("name")),
        f"|{'|'.join(cats)}|" if cats else None,
        (canonical_ip(ip) or ip) if ip else None,
        _text(host.get("name")),
        _text(doc.get("message")),
    )


def _object(value) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# A dotted quad without leading zeros is already its own canonical form (ipaddress agrees:
# tests/test_query.py), and it is what most events carry: no parse for it.
_PLAIN_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}").fullmatch


@lru_cache(maxsize=16384)  # the index computes one per event; addresses repeat
def canonical_ip(value: str) -> str | None:
    """An address in the one form both indexes store and the query API compares (``::1`` =
    ``0::1``); None when ``value`` is not an address."""
    if _PLAIN_IPV4(value):
        return value
    try:
        return ipaddress.ip_address(value.strip()).compressed
    except ValueError:
        return None


ES_DATASET = "auditseal.audit"
ES_STREAM_PREFIX = f"logs-{ES_DATASET}-"
ES_STREAM_PATTERN = f"{ES_STREAM_PREFIX}*"
