"""SQLite index sink (the embedded default): one row per event, deduplicated by event.id.

The sink's cursor lives in the same database and is updated in the same transaction as
the rows, so a crash either keeps both or neither: replay never duplicates.
"""

from __future__ import annotations

import datetime as dt
import queue
import sqlite3
import threading
from pathlib import Path
from typing import Iterator

import orjson

from auditseal.formats.event import format_ts
from auditseal.formats.index_layout import (
    SQLITE_EVENTS_SCHEMA,
    SQLITE_COLUMNS,
    SQLITE_INSERT,
    SQLITE_INSERT_JSON,
    SQLITE_V1_COLUMNS,
    SQLITE_V2_SCHEMA,
    SQLITE_V3_FILL,
    SQLITE_V3_TABLE,
    SQLITE_V3_TRIGGERS,
    SQLITE_V4_UNIQUE,
    SQLITE_VERSION,
)
from auditseal.formats.index_layout import sqlite_row as row

from ..journal import BatchMeta, Cursor
from .base import Batch, SinkUnavailable
from .quarantine import POISON_TYPES, Quarantine, is_poison
from .stored import materialise

SCHEMA = (
    SQLITE_EVENTS_SCHEMA
    + """
CREATE TABLE IF NOT EXISTS sink_cursors (
    consumer TEXT PRIMARY KEY,
    cursor   TEXT NOT NULL
);
"""
)
INSERT = SQLITE_INSERT


CHUNK_ROWS = 1000
CACHE_KIB = 128 * 1024
_BINDABLE = frozenset({str, int, float, bool, bytes, type(None)})
_DONE = object()


def _rows(batch: Batch) -> Iterator[tuple]:
    """(row, None, source) per event, or (None, the error, source) for one that cannot be a row."""
    for event in batch:
        source = (event.cursor, event.meta, event.line)
        if event.error is not None:
            yield None, event.error, source
            continue
        try:
            yield row(event.doc, event.stored), None, source
        except Exception as exc:
            yield None, exc, source


def _as_json(items: list) -> str | None:
    """A chunk's rows as SQLITE_INSERT_JSON's one parameter; None when one cannot be written
    as JSON (its rows then go one by one, and the one at fault is quarantined alone)."""
    rows = [values for values, error, _ in items if error is None]
    # What SQLite could not bind (an object where a column wants a value) must fail as it
    # would one row at a time, not be written as JSON text.
    if not all(type(v) in _BINDABLE for values in rows for v in values) or not all(
        type(values[7]) is not int or -(2**63) <= values[7] < 2**63 for values in rows
    ):
        return None
    try:
        text = orjson.dumps([(*values[:8], values[8].decode(), *values[9:]) for values in rows]).decode()
    except (TypeError, ValueError):
        return None
    # SQLite's ->> ends a text at a NUL; such a chunk goes row by row (a NUL inside a stored
    # document is escaped twice here, so it is caught too: harmless, just slower).
    return None if "\\u0000" in text else text


def _prepared(batch: Batch) -> Iterator[tuple[list, str | None]]:
    """The batch's rows in chunks (with their JSON form), built on a helper thread while
    SQLite stores the chunk before without the GIL: materialising and storing overlap."""
    ready: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()

    def produce() -> None:
        try:
            chunk: list = []
            for item in _rows(batch):
                chunk.append(item)
                if len(chunk) >= CHUNK_ROWS:
                    if stop.is_set():
                        return
                    ready.put((chunk, _as_json(chunk)))
                    chunk = []
            ready.put((chunk, _as_json(chunk)))
            ready.put(_DONE)
        except BaseException as exc:  # a defect: handed to the consumer, raised there
            ready.put(exc)

    worker = threading.Thread(target=produce, name="index-rows", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # let a producer blocked on a full queue see the stop
            try:
                ready.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def upgrade(conn: sqlite3.Connection, chunk: int = 10_000) -> None:
    """Bring an index of an earlier layout to the current one (each step once; idempotent if
    interrupted): v2 fills the new columns from each row's document and builds the text
    index; v3 adds the per-agent table and its triggers, filled in the same transaction."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version < 2:
        _to_v2(conn, chunk)
    if version < 3:
        _to_v3(conn)
    if version < 4:
        _to_v4(conn)


def _to_v3(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(SQLITE_V3_TABLE)
        conn.execute(SQLITE_V3_FILL)
        for trigger in SQLITE_V3_TRIGGERS:
            conn.execute(trigger)
        conn.execute("PRAGMA user_version = 3")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _statements(script: str) -> list[str]:
    """A script's statements one by one (``executescript`` would commit the open transaction)."""
    out, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            out.append(pending.strip())
            pending = ""
    return out


def _to_v4(conn: sqlite3.Connection) -> None:
    """Unique on (agent_id, seq), not on event_id: a table that declared event_id UNIQUE is
    rebuilt (same rows, same rowids), with its indexes and triggers, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        # A UNIQUE declared in the table is an index of origin 'u' (PRAGMA index_list), which
        # only a rebuild removes; the (agent_id, seq) index is made by CREATE INDEX (origin 'c').
        if any(origin == "u" for _, _, _, origin, _ in conn.execute("PRAGMA index_list(events)")):
            conn.execute(SQLITE_EVENTS_SCHEMA.replace("IF NOT EXISTS events", "events_v4"))
            columns = f"rowid, {SQLITE_COLUMNS}"
            conn.execute(f"INSERT INTO events_v4 ({columns}) SELECT {columns} FROM events ORDER BY rowid")
            conn.execute("DROP TABLE events")  # its indexes and triggers go with it
            conn.execute("ALTER TABLE events_v4 RENAME TO events")
            for statement in _statements(SQLITE_V2_SCHEMA):  # the text index itself stays
                if "VIRTUAL TABLE" not in statement:
                    conn.execute(statement)
            for trigger in SQLITE_V3_TRIGGERS:
                conn.execute(trigger)
        conn.execute(SQLITE_V4_UNIQUE)
        conn.execute(f"PRAGMA user_version = {SQLITE_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _to_v2(conn: sqlite3.Connection, chunk: int) -> None:
    have = {r[1] for r in conn.execute("PRAGMA table_info(events)")}
    for column in SQLITE_V1_COLUMNS:
        if column not in have:
            conn.execute(f"ALTER TABLE events ADD COLUMN {column} TEXT")
    last = 0
    while True:
        rows = conn.execute(
            "SELECT rowid, doc FROM events WHERE rowid > ? ORDER BY rowid LIMIT ?", (last, chunk)
        ).fetchall()
        if not rows:
            break
        updates = []
        for rowid, doc in rows:
            try:
                values = row(orjson.loads(doc), doc)
            except Exception:  # a row stored before: keep it, without the new columns
                continue
            updates.append((*values[9:], rowid))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "UPDATE events SET target_user = ?, categories = ?, source_ip = ?, host = ?, message = ? WHERE rowid = ?",
            updates,
        )
        conn.execute("COMMIT")
        last = rows[-1][0]
    conn.executescript(SQLITE_V2_SCHEMA)
    conn.execute("INSERT INTO events_text (events_text) VALUES ('rebuild')")
    conn.execute("PRAGMA user_version = 2")


class SqliteIndex:
    name = "index"

    def __init__(self, path: Path, quarantine: Quarantine | None = None):
        self.path = Path(path)
        self.quarantine = quarantine
        self._conn: sqlite3.Connection | None = None

    def open(self) -> Cursor | None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect(self.path)
            conn.executescript(SCHEMA)
            upgrade(conn)
            conn.close()
            found = (
                self._connection()
                .execute("SELECT cursor FROM sink_cursors WHERE consumer = ?", (self.name,))
                .fetchone()
            )
        except (OSError, sqlite3.OperationalError) as exc:
            raise SinkUnavailable(f"SQLite index {self.path}: {exc}") from exc
        return Cursor.decode(found[0]) if found else None

    def _connection(self) -> sqlite3.Connection:
        # Opened on the worker thread that uses it; consumers run one process() at a time.
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
            self._conn.execute("PRAGMA synchronous=NORMAL")
            # The B-trees' inner pages and recent leaves stay in memory as the table grows.
            self._conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        return self._conn

    def process(self, batch: Batch) -> None:
        try:
            self._store(_prepared(batch), batch.end)
        except (OSError, sqlite3.OperationalError) as exc:  # locked, disk full, gone: the store's health
            raise SinkUnavailable(f"SQLite index {self.path}: {exc}") from exc

    def _set_aside(self, exc: Exception, cursor: Cursor, meta, line: bytes) -> None:
        """One event this index cannot hold: quarantined; anything else is raised (retry)."""
        if self.quarantine is None or not is_poison(exc):
            raise exc
        self.quarantine.add(cursor, meta, line, exc)

    def _store(self, chunks: Iterator[tuple[list, str | None]], end: Cursor) -> None:
        """Insert the rows of ``chunks`` and move the cursor to ``end`` in one transaction; an
        event that cannot be a row, or a row SQLite refuses for its content, is quarantined
        alone."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for chunk, as_json in chunks:
                rows = []
                for values, error, source in chunk:
                    if error is not None:
                        self._set_aside(error, *source)
                    else:
                        rows.append((values, source))
                try:
                    if as_json is None:
                        raise ValueError("a row that JSON cannot carry")
                    conn.execute(SQLITE_INSERT_JSON, (as_json,))
                except POISON_TYPES:
                    for values, source in rows:  # find the row(s) at fault, store the rest
                        try:
                            conn.execute(INSERT, values)  # OR IGNORE: rows stored above stay once
                        except POISON_TYPES as exc:
                            self._set_aside(exc, *source)
            conn.execute(
                "INSERT INTO sink_cursors (consumer, cursor) VALUES (?, ?) "
                "ON CONFLICT (consumer) DO UPDATE SET cursor = excluded.cursor",
                (self.name, end.encode()),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def retry(self, items: list[tuple[BatchMeta, bytes]]) -> list[str]:
        """Store quarantined events again (``quarantine retry``); the ids now stored. One that
        still fails stays quarantined as it was."""
        conn = self._connection()
        stored = []
        for meta, line in items:
            try:
                values = row(*materialise(meta, line))
                conn.execute(INSERT, values)
            except Exception as exc:
                if not is_poison(exc):
                    raise
                continue
            stored.append(values[0])
        return stored

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def prune(path: Path, policy, now=None, chunk: int = 10_000) -> int:
    """Delete events past their tenant's hot retention (``retention.index_days``; the archive
    keeps them). In chunks, so ingest's writes are never blocked for long. Returns how many."""
    now = now or dt.datetime.now(dt.timezone.utc)
    conn = connect(path)
    removed = 0
    try:
        tenants = [t for (t,) in conn.execute("SELECT DISTINCT tenant FROM agent_stats WHERE events > 0")]
        for tenant in tenants:
            cutoff = format_ts(now - dt.timedelta(days=policy.index_days_of(tenant)))
            while True:
                done = conn.execute(
                    "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE tenant = ? AND ts < ? LIMIT ?)",
                    (tenant, cutoff, chunk),
                ).rowcount
                removed += done
                if done < chunk:
                    break
    finally:
        conn.close()
    return removed
