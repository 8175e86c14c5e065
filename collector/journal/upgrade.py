"""One-time migration of a data directory written by a release before journal cursors were
opaque (up to commit cdbf7bd). Those releases wrote the local journal's position
``[segment, offset]`` in four places; each becomes the cursor text ``1:local:<segment>.<offset>``:

- the SQLite index: table ``cursors (consumer, segment, offset)`` → ``sink_cursors (consumer, cursor)``
- the sealer: ``sealer/cursor.json``, each log's ``journal_end`` in ``sealer/*.log.json`` and
  ``sealer/*.intent.json``
- the Elasticsearch sink: ``elasticsearch/cursor.json``

Idempotent (what is already new is left as it is); each file is replaced atomically, the
SQLite change is one transaction. Run by the composition root before any sink opens.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import orjson

from auditseal.logs import kv
from auditseal.storage.files import write_atomic

from .base import Cursor

log = logging.getLogger("auditseal.collector.upgrade")


def legacy_cursor(value) -> str | None:
    """The cursor text for a pre-cursor ``[segment, offset]``; None when ``value`` is not one."""
    if isinstance(value, list) and len(value) == 2 and all(type(n) is int and n >= 0 for n in value):
        return Cursor("local", (value[0], value[1])).encode()
    return None


def _json_file(path: Path, convert) -> bool:
    data = orjson.loads(path.read_bytes())
    new = convert(data)
    if new is None:
        return False
    write_atomic(path, orjson.dumps(new))
    return True


def _log_state(data):
    if isinstance(data, dict) and (text := legacy_cursor(data.get("journal_end"))) is not None:
        return {**data, "journal_end": text}
    if isinstance(data, dict) and (text := legacy_cursor(data.get("state", {}).get("journal_end"))) is not None:
        return {**data, "state": {**data["state"], "journal_end": text}}  # an intent
    return None


def migrate_sqlite(path: Path) -> bool:
    if not path.exists():
        return False
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "cursors" not in tables:
            return False
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TABLE IF NOT EXISTS sink_cursors (consumer TEXT PRIMARY KEY, cursor TEXT NOT NULL)")
        for consumer, segment, offset in conn.execute("SELECT consumer, segment, offset FROM cursors").fetchall():
            conn.execute(
                "INSERT OR REPLACE INTO sink_cursors (consumer, cursor) VALUES (?, ?)",
                (consumer, legacy_cursor([segment, offset])),
            )
        conn.execute("DROP TABLE cursors")
        conn.execute("COMMIT")
        return True
    finally:
        conn.close()


def migrate(data_dir: Path, index_path: Path | None) -> list[str]:
    """Migrate what is there; returns what was migrated (for the log)."""
    done = []
    if index_path is not None and migrate_sqlite(index_path):
        done.append(str(index_path))
    for path in (data_dir / "sealer" / "cursor.json", data_dir / "elasticsearch" / "cursor.json"):
        if path.exists() and _json_file(path, legacy_cursor):
            done.append(str(path))
    sealer = data_dir / "sealer"
    if sealer.is_dir():
        for path in sorted([*sealer.glob("*.log.json"), *sealer.glob("*.intent.json")]):
            if _json_file(path, _log_state):
                done.append(str(path))
    if done:
        log.warning("data directory from an earlier release: journal cursors migrated", extra=kv(files=done))
    return done
