"""An index for inclusion proofs: event id → (log, leaf), and every perfect subtree root of
each log, built incrementally from the sealed archive segments (read once each).

A proof is then O(log² n) lookups and one segment read, not a scan of the tenant's archive.
The index is a cache: anything in it is checked against what the archive and the signed
checkpoint say when a proof is served (the event's bytes hash to the stored leaf, the path
leads to the signed root), so a stale or damaged index gives a refusal, never a wrong proof;
deleting it is always safe (it is rebuilt).

SQLite, ``PRAGMA user_version`` 1::

    logs(id, name, size, last_segment)    -- leaves indexed so far, newest segment read
    segments(log_id, first, count, key)
    leaves(event_id, log_id, leaf)
    nodes(log_id, level, idx, hash)       -- hash of leaves [idx·2^level, (idx+1)·2^level)
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import orjson

from auditseal.formats.merkle import inclusion_proof_by, leaf_hash, node_hash, subtree_root
from auditseal.storage import archive

VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, size INTEGER NOT NULL, last_segment TEXT
);
CREATE TABLE IF NOT EXISTS segments (
    log_id INTEGER NOT NULL, first INTEGER NOT NULL, count INTEGER NOT NULL, key TEXT NOT NULL,
    PRIMARY KEY (log_id, first)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leaves (
    event_id TEXT PRIMARY KEY, log_id INTEGER NOT NULL, leaf INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nodes (
    log_id INTEGER NOT NULL, level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (log_id, level, idx)
) WITHOUT ROWID;
"""


class IndexGap(Exception):
    """The archive's segments do not continue where the index stopped (a missing or
    overlapping segment): proofs for the log wait for ``auditseal verify`` to explain it."""


class ProofIndex:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, VERSION):  # a cache: start again rather than misread it
            self._conn.executescript(
                "DROP TABLE IF EXISTS logs; DROP TABLE IF EXISTS segments; "
                "DROP TABLE IF EXISTS leaves; DROP TABLE IF EXISTS nodes;"
            )
        self._conn.executescript(SCHEMA)
        self._conn.execute(f"PRAGMA user_version = {VERSION}")

    def _log(self, name: str) -> tuple[int, int, str | None]:
        found = self._conn.execute("SELECT id, size, last_segment FROM logs WHERE name = ?", (name,)).fetchone()
        if found is None:
            self._conn.execute("INSERT INTO logs (name, size) VALUES (?, 0)", (name,))
            return self._log(name)
        return found

    def catch_up(self, store, log: str, cipher=None) -> int:
        """Index the segments of ``log`` written since the last call; how many leaves were added."""
        with self._lock:
            log_id, size, last = self._log(log)
            added = 0
            for key in store.list(f"{log}/segments", start_after=last):
                m = archive.SEGMENT_RE.match(key[len(log) + 1 :])
                if not m:
                    continue
                first = int(m.group(1))
                if first != size:
                    raise IndexGap(f"log {log}: segment {key} starts at leaf {first}, the index holds {size}")
                lines = archive.decode_segment(store.get(key), cipher, key)
                self._add(log_id, first, key, lines)
                size += len(lines)
                added += len(lines)
            return added

    def _add(self, log_id: int, first: int, key: str, lines: list[bytes]) -> None:
        leaves, nodes = [], {}
        for offset, line in enumerate(lines):
            index = first + offset
            try:
                leaves.append((orjson.loads(line)["event"]["id"], log_id, index))
            except (orjson.JSONDecodeError, KeyError, TypeError):
                pass  # a leaf no event id names: no proof can be asked for it
            digest, level, idx = leaf_hash(line), 0, index
            nodes[(0, idx)] = digest
            while idx % 2 == 1:  # a right child: its parent is complete now
                left = nodes.get((level, idx - 1)) or self._node(log_id, level, idx - 1)
                digest, level, idx = node_hash(left, digest), level + 1, idx // 2
                nodes[(level, idx)] = digest
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany("INSERT OR REPLACE INTO leaves VALUES (?, ?, ?)", leaves)
            self._conn.executemany(
                "INSERT OR REPLACE INTO nodes VALUES (?, ?, ?, ?)", [(log_id, lv, i, h) for (lv, i), h in nodes.items()]
            )
            self._conn.execute("INSERT OR REPLACE INTO segments VALUES (?, ?, ?, ?)", (log_id, first, len(lines), key))
            self._conn.execute(
                "UPDATE logs SET size = ?, last_segment = ? WHERE id = ?", (first + len(lines), key, log_id)
            )
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _node(self, log_id: int, level: int, idx: int) -> bytes:
        found = self._conn.execute(
            "SELECT hash FROM nodes WHERE log_id = ? AND level = ? AND idx = ?", (log_id, level, idx)
        ).fetchone()
        if found is None:
            raise KeyError(f"no node {level}/{idx}")
        return found[0]

    def locate(self, event_id: str) -> tuple[str, int, int] | None:
        """(log, leaf, leaves indexed in that log) of an event, or None."""
        with self._lock:
            found = self._conn.execute(
                "SELECT logs.name, leaves.leaf, logs.size FROM leaves JOIN logs ON logs.id = leaves.log_id "
                "WHERE leaves.event_id = ?",
                (event_id,),
            ).fetchone()
        return tuple(found) if found else None  # type: ignore[return-value]

    def segment_of(self, log: str, leaf: int) -> tuple[str, int]:
        with self._lock:
            log_id = self._log(log)[0]
            key, first = self._conn.execute(
                "SELECT key, first FROM segments WHERE log_id = ? AND first <= ? ORDER BY first DESC LIMIT 1",
                (log_id, leaf),
            ).fetchone()
        return key, first

    def audit_path(self, log: str, leaf: int, size: int) -> tuple[list[bytes], bytes, bytes]:
        """(audit path, leaf hash, root) of ``leaf`` in the tree of the first ``size`` leaves."""
        with self._lock:
            log_id = self._log(log)[0]
            node = lambda level, idx: self._node(log_id, level, idx)  # noqa: E731
            return inclusion_proof_by(node, leaf, size), node(0, leaf), subtree_root(node, 0, size)

    def close(self) -> None:
        self._conn.close()
