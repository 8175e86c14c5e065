"""Per-sink quarantine: events a sink cannot store are set aside, one by one, and the sink
goes on. Transient failures (the store is down) are not this: they hold the sink's cursor.

A sink tells the two apart at its boundary by the error's type (``is_poison``): errors that
belong to one event's content (a value a store cannot hold, a mapping conflict) quarantine
that event; anything else — ``OSError``, a database that is locked or gone, a network error —
is raised as ``SinkUnavailable``, and the runner retries from the sink's cursor.

File ``<data_dir>/quarantine/<sink>.ndjson``, append-only, fsynced, one JSON object a line:
``{"kind": "quarantined", "at", "sink", "cursor": <journal cursor text>, "event_id", "agent",
"tenant", "seq", "error_type", "error", "meta": {agent, tenant, ingested}, "line"}`` where
``line`` is the journal line as received; later ``{"kind": "retry", "at", "event_ids"}``
(an operator asked, ``auditseal-collector quarantine retry``; empty = all) and ``{"kind":
"resolved", "at", "event_id"}`` (the retried event stored). Folding the file gives the open
entries; nothing is ever rewritten.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import orjson

from auditseal.formats.event import event_id as derive_event_id
from auditseal.formats.event import utc_now_iso

from ..journal import BatchMeta, Cursor

# Errors that come from one event's content, whatever the store's health.
POISON_TYPES = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
    RecursionError,
    UnicodeError,
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.DataError,
    sqlite3.ProgrammingError,
)


class Poison(Exception):
    """A sink's own refusal of one event (e.g. Elasticsearch's mapping error for it)."""


def is_poison(exc: BaseException) -> bool:
    return isinstance(exc, (Poison, *POISON_TYPES))


@dataclass(frozen=True)
class Entry:
    sink: str
    event_id: str
    agent: str
    tenant: str
    seq: int | None
    cursor: str  # the journal record it came in (``Cursor.encode``)
    error_type: str
    error: str
    at: str
    meta: BatchMeta
    line: bytes

    def to_json(self) -> dict:
        return {
            "kind": "quarantined",
            "at": self.at,
            "sink": self.sink,
            "cursor": self.cursor,
            "event_id": self.event_id,
            "agent": self.agent,
            "tenant": self.tenant,
            "seq": self.seq,
            "error_type": self.error_type,
            "error": self.error,
            "meta": {"agent": self.meta.agent, "tenant": self.meta.tenant, "ingested": self.meta.ingested},
            "line": self.line.decode("utf-8", "backslashreplace"),
        }


def entry_for(sink: str, cursor: Cursor, meta: BatchMeta, line: bytes, exc: BaseException) -> Entry:
    """What to remember of one event that ``sink`` could not store (its id derived as the
    stored form derives it, even when the line is not an object)."""
    seq = None
    try:
        doc = orjson.loads(line)
        seq = doc["event"]["sequence"] if isinstance(doc, dict) and isinstance(doc.get("event"), dict) else None
    except orjson.JSONDecodeError:
        pass
    seq = seq if type(seq) is int else None
    eid = derive_event_id(meta.agent, seq) if seq is not None else ""
    return Entry(
        sink,
        eid,
        meta.agent,
        meta.tenant,
        seq,
        cursor.encode(),
        getattr(exc, "type_name", None) or type(exc).__name__,  # relayed from the index's worker
        str(exc)[:1000],
        utc_now_iso(),
        meta,
        bytes(line),
    )


def fold(lines: list[dict]) -> tuple[list[dict], set[str] | None]:
    """Open entries (quarantined, not resolved) and the ids a pending retry asks for
    (``None``: no retry pending; an empty set: all)."""
    open_entries: dict[str, dict] = {}
    retry: set[str] | None = None
    for item in lines:
        kind = item.get("kind")
        if kind == "quarantined":
            key = item.get("event_id") or f"{item.get('cursor', item.get('position'))}"
            open_entries[key] = item
        elif kind == "resolved":
            open_entries.pop(item.get("event_id", ""), None)
        elif kind == "retry":
            ids = set(item.get("event_ids") or ())
            if retry is None:
                retry = ids
            elif retry and ids:
                retry |= ids
            else:
                retry = set()  # one request for all makes the pending retry "all"
        elif kind == "retried":
            retry = None
    return list(open_entries.values()), retry


class Quarantine:
    """The quarantine file of one sink, and what happens on each new entry (metric, alert)."""

    def __init__(self, directory: Path, sink: str, on_entry: Callable[[Entry], None] | None = None):
        self.path = Path(directory) / f"{sink}.ndjson"
        self.sink = sink
        self.on_entry = on_entry
        self._lock = threading.Lock()

    def _append(self, items: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path, "ab") as f:
            f.write(b"".join(orjson.dumps(i) + b"\n" for i in items))
            f.flush()
            os.fsync(f.fileno())

    def add(self, cursor: Cursor, meta: BatchMeta, line: bytes, exc: BaseException) -> Entry:
        entry = entry_for(self.sink, cursor, meta, line, exc)
        self._append([entry.to_json()])
        if self.on_entry is not None:
            self.on_entry(entry)
        return entry

    def read(self) -> list[dict]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for raw in data.splitlines():
            try:
                out.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                continue  # a torn last line after a crash
        return out

    def open_entries(self) -> list[dict]:
        return fold(self.read())[0]

    def request_retry(self, event_ids: list[str]) -> None:
        self._append([{"kind": "retry", "at": utc_now_iso(), "event_ids": list(event_ids)}])

    def pending_retry(self) -> list[dict] | None:
        """Open entries a pending retry asks for; None when no retry is pending (one read)."""
        entries, wanted = fold(self.read())
        if wanted is None:
            return None
        return [e for e in entries if not wanted or e.get("event_id") in wanted]

    def finish_retry(self, resolved: list[str]) -> None:
        self._append(
            [{"kind": "resolved", "at": utc_now_iso(), "event_id": e} for e in resolved]
            + [{"kind": "retried", "at": utc_now_iso(), "resolved": len(resolved)}]
        )

    @staticmethod
    def entry_input(item: dict) -> tuple[BatchMeta, bytes]:
        """The journal line of a stored entry, for a sink to try again."""
        meta = item["meta"]
        return BatchMeta(meta["agent"], meta["tenant"], meta["ingested"]), item["line"].encode("utf-8")
