"""Admin API queries on the SQLite index: ``collector.query`` filters as SQL, run on a fresh
read-only connection (safe from any thread while the sink writes)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import orjson

from ..query import EventQuery


# A page matches ``q`` one of two ways, the same in meaning: words whose matches are few (at
# most this many rows in the whole index) as a set of row ids looked up once; common words by
# probing the text index for each row the other filters walk, in time order, so a page stops
# after its first matches instead of gathering millions of row ids first.
TEXT_SET_LIMIT = 20_000


def few_matches(conn: sqlite3.Connection, query: EventQuery) -> bool:
    found = conn.execute(
        "SELECT count(*) FROM (SELECT rowid FROM events_text WHERE events_text MATCH ? LIMIT ?)",
        (match_of(query), TEXT_SET_LIMIT + 1),
    ).fetchone()[0]
    return found <= TEXT_SET_LIMIT


def match_of(query: EventQuery) -> str:
    return " ".join('"' + w.replace('"', '""') + '"' for w in query.text)


def where(query: EventQuery, few: bool = True) -> tuple[list[str], list]:
    """Every clause starts with the tenant, matching the indexes; ``few``: see TEXT_SET_LIMIT."""
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
        if few:
            clauses.append("rowid IN (SELECT rowid FROM events_text WHERE events_text MATCH ?)")
        else:
            clauses.append(
                "EXISTS (SELECT 1 FROM events_text WHERE events_text MATCH ? AND events_text.rowid = events.rowid)"
            )
        args.append(match_of(query))
    return clauses, args


def page_sql(query: EventQuery, few: bool = True) -> tuple[str, list]:
    clauses, args = where(query, few)
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
        sql, args = page_sql(query, few_matches(conn, query) if query.text else True)
        docs = [orjson.loads(doc) for (doc,) in conn.execute(sql, args)]
    finally:
        conn.close()
    return docs[: query.limit], len(docs) > query.limit


def count(path: Path, query: EventQuery) -> int:
    conn = _read(path)
    try:
        clauses, args = where(query)  # a count visits every match: the set of row ids is cheaper then
        return conn.execute(f"SELECT count(*) FROM events WHERE {' AND '.join(clauses)}", args).fetchone()[0]
    finally:
        conn.close()


def agents(path: Path, tenant: str) -> list[dict]:
    """Each agent that wrote events for ``tenant``: how many, its last sequence, when last seen."""
    conn = _read(path)
    try:
        rows = conn.execute(  # kept by triggers as events are stored (index layout v3)
            "SELECT agent_id, events, last_seq, last_ts FROM agent_stats WHERE tenant = ? AND events > 0 "
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
