"""Admin API queries on the SQLite index: ``collector.query`` filters as SQL, run on a fresh
read-only connection (safe from any thread while the sink writes)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import orjson

from ..query import EventQuery


def where(query: EventQuery) -> tuple[list[str], list]:
    """Every clause starts with the tenant, matching the indexes."""
    clauses: list[str] = ["tenant = ?"]
    args: list = [query.tenant]
    for column, value in (
        ("user_name", query.user),
        ("target_user", query.target_user),
        ("action", query.action),
        ("outcome", query.outcome),
        ("source_ip", query.source_ip),
        ("host", query.host),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if query.category is not None:
        clauses.append("instr(categories, ?) > 0")
        args.append(f"|{query.category}|")
    if query.since is not None:
        clauses.append("ts >= ?")
        args.append(query.since)
    if query.until is not None:
        clauses.append("ts < ?")
        args.append(query.until)
    if query.text:
        clauses.append("rowid IN (SELECT rowid FROM events_text WHERE events_text MATCH ?)")
        args.append(" ".join('"' + w.replace('"', '""') + '"' for w in query.text))
    return clauses, args


def page_sql(query: EventQuery) -> tuple[str, list]:
    clauses, args = where(query)
    op, direction = ("<", "DESC") if query.order == "desc" else (">", "ASC")
    if query.after is not None:
        clauses.append(f"(ts, event_id) {op} (?, ?)")
        args.extend(query.after)
    args.append(query.limit + 1)  # one more: whether there is a next page
    return (
        f"SELECT doc FROM events WHERE {' AND '.join(clauses)} ORDER BY ts {direction}, event_id {direction} LIMIT ?",
        args,
    )


def _read(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


def search_page(path: Path, query: EventQuery) -> tuple[list[dict], bool]:
    """One page and whether more follow."""
    conn = _read(path)
    try:
        sql, args = page_sql(query)
        docs = [orjson.loads(doc) for (doc,) in conn.execute(sql, args)]
    finally:
        conn.close()
    return docs[: query.limit], len(docs) > query.limit


def count(path: Path, query: EventQuery) -> int:
    conn = _read(path)
    try:
        clauses, args = where(query)
        return conn.execute(f"SELECT count(*) FROM events WHERE {' AND '.join(clauses)}", args).fetchone()[0]
    finally:
        conn.close()


def agents(path: Path, tenant: str) -> list[dict]:
    """Each agent that wrote events for ``tenant``: how many, its last sequence, when last seen."""
    conn = _read(path)
    try:
        rows = conn.execute(
            "SELECT agent_id, count(*), max(seq), max(ts) FROM events WHERE tenant = ? GROUP BY agent_id "
            "ORDER BY agent_id",
            (tenant,),
        ).fetchall()
    finally:
        conn.close()
    return [{"agent": a, "events": n, "last_sequence": s, "last_event_at": t} for a, n, s, t in rows]


def total(path: Path) -> int:
    conn = _read(path)
    try:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        conn.close()


class SqliteReader:
    """The admin API's view of the SQLite index (each call on a worker thread)."""

    def __init__(self, path: Path):
        self.path = path

    async def page(self, query: EventQuery) -> tuple[list[dict], bool]:
        return await asyncio.to_thread(search_page, self.path, query)

    async def count(self, query: EventQuery) -> int:
        return await asyncio.to_thread(count, self.path, query)

    async def agents(self, tenant: str) -> list[dict]:
        return await asyncio.to_thread(agents, self.path, tenant)
