"""The index against the archive (``verify --index``): every sealed event indexed once and
byte for byte, no row the archive does not back, every column the query API filters on what
the event's document gives, and the SQLite word index (``q``) holding each row's message words
and no others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import orjson

from auditseal.errors import Rejected
from auditseal.storage import archive

from auditseal.formats.event import event_id as derive_event_id
from auditseal.formats.index_layout import (
    SQLITE_COLUMNS,
    SQLITE_TENANT_FULL_ROWS,
    SQLITE_TENANT_ROWS,
    SQLITE_TEXT_TOKENIZE,
    sqlite_row,
)

INDEX_MISSING = "INDEX_MISSING"
INDEX_MISMATCH = "INDEX_MISMATCH"
INDEX_EXTRA = "INDEX_EXTRA"
INDEX_DUPLICATE = "INDEX_DUPLICATE"


@dataclass
class IndexRow:
    event_id: str
    agent_id: str
    seq: int
    doc: bytes
    # The whole row in SQLITE_COLUMNS order, where the index keeps columns derived from the
    # document (the query API filters on them): each must be what the document gives.
    columns: tuple | None = None
    words_held: bool = True  # False: the word index does not hold exactly this row's message words


class SqliteRows:
    """Index rows of one tenant from the collector's SQLite index (read-only), and which
    tenants it holds rows of."""

    def __init__(self, path: str):
        self.path = path
        self._wrong_words: set[int] | None = None  # checked once, for every tenant, on the first call
        # Rowids the word index holds words for but no row has: the event stored next under
        # such a rowid would match words it does not hold.
        self.orphan_words: set[int] = set()

    def _connect(self):
        import sqlite3

        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)

    def tenants(self) -> set[str]:
        conn = self._connect()
        try:
            return {tenant for (tenant,) in conn.execute("SELECT DISTINCT tenant FROM events")}
        finally:
            conn.close()

    def __call__(self, tenant: str) -> Iterable[IndexRow]:
        conn = self._connect()
        try:
            have = {r[1] for r in conn.execute("PRAGMA table_info(events)")}
            if have >= set(_COLUMN_NAMES):
                if self._wrong_words is None:
                    self._wrong_words = rows_with_wrong_words(conn)
                    self.orphan_words = self._wrong_words - _rowids_present(conn, self._wrong_words)
                for rowid, *values in conn.execute(SQLITE_TENANT_FULL_ROWS, (tenant,)):
                    yield IndexRow(
                        values[0], values[6], values[7], values[8], tuple(values), rowid not in self._wrong_words
                    )
            else:  # the first layout, before filter columns
                for event_id, agent, seq, doc in conn.execute(SQLITE_TENANT_ROWS, (tenant,)):
                    yield IndexRow(event_id, agent, seq, doc)
        finally:
            conn.close()


def sqlite_index(path: str) -> SqliteRows:
    return SqliteRows(path)


def rows_with_wrong_words(conn) -> set[int]:
    """Rowids whose entries in the word index (``events_text``, FTS5) are not the words of
    their own ``message``: an entry removed hides the event from ``q``, one added makes it
    match words it does not hold. Read-only: the words are indexed again in a temporary index
    and both are walked token by token in the order FTS5 lists them (term, row, position)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events_text'").fetchone() is None:
        return set()
    # One read transaction from here on: the rows indexed again and the word index walked are
    # the same snapshot of a live index (WAL), so a row the collector adds meanwhile is in both
    # or in neither. It stays open for the caller's reads of the rows too.
    if not conn.in_transaction:
        conn.execute("BEGIN")
    conn.execute("CREATE VIRTUAL TABLE temp.words_held USING fts5vocab(main, events_text, instance)")
    conn.execute(
        f"CREATE VIRTUAL TABLE temp.words_fresh USING fts5(message, content='', tokenize=\"{SQLITE_TEXT_TOKENIZE}\")"
    )
    conn.execute("INSERT INTO temp.words_fresh (rowid, message) SELECT rowid, message FROM main.events")
    conn.execute("CREATE VIRTUAL TABLE temp.words_wanted USING fts5vocab(temp, words_fresh, instance)")
    held = conn.execute("SELECT term, doc, offset FROM temp.words_held")
    wanted = conn.cursor().execute("SELECT term, doc, offset FROM temp.words_wanted")
    wrong: set[int] = set()
    a, b = next(held, None), next(wanted, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a < b):
            wrong.add(a[1])
            a = next(held, None)
        elif a is None or b < a:
            wrong.add(b[1])
            b = next(wanted, None)
        else:
            a, b = next(held, None), next(wanted, None)
    return wrong


def _rowids_present(conn, rowids: set[int]) -> set[int]:
    """Those of ``rowids`` that rows of ``events`` have (in the caller's read transaction)."""
    wanted = sorted(rowids)
    present: set[int] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        present.update(r for (r,) in conn.execute(f"SELECT rowid FROM events WHERE rowid IN ({marks})", chunk))
    return present


def sealed_since(store, tenant: str, read: set[str], cipher) -> set[str]:
    """Ids of the events in the tenant's segments whose leaves were not read (sealed
    meanwhile by a running collector, or not verified: those are findings of their own)."""
    ids: set[str] = set()
    for key in store.list(f"{tenant}/"):
        if key in read or not archive.SEGMENT_RE.match(key.split("/", 2)[-1]):
            continue
        try:
            lines = archive.decode_segment(store.get(key), cipher, key)
        except (FileNotFoundError, RuntimeError, Rejected):
            continue  # read on the next run, with its checkpoint
        for line in lines:
            try:
                ids.add(orjson.loads(line)["event"]["id"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
    return ids


_COLUMN_NAMES = tuple(name.strip() for name in SQLITE_COLUMNS.split(","))


def _altered_columns(row: IndexRow) -> list[str]:
    """The columns of ``row`` that are not what its document gives, and the word index if it
    does not hold the row's message words ([] for a document that gives no row: an event from
    before the filter columns, compared by its bytes only)."""
    if row.columns is None:
        return []
    words = [] if row.words_held else ["message words (events_text)"]
    try:
        doc = orjson.loads(row.doc)
    except orjson.JSONDecodeError:
        return ["doc (not JSON: the collector stores only documents)", *words]
    try:
        derived = sqlite_row(doc, bytes(row.doc))
    except Exception:  # a first-layout row the upgrade could not fill: kept without columns
        return words
    return [name for name, have, want in zip(_COLUMN_NAMES, row.columns, derived, strict=True) if have != want] + words


@dataclass
class SealedLog:
    """What one of a tenant's logs gave the index comparison: its verified leaves (number,
    bytes) and where its findings go."""

    name: str
    leaves: list[tuple[int, bytes]]
    trusted: bool  # it has checkpoints signed by a pinned key
    finding: Callable[..., None]  # (code, first, last, object, detail)


def compare_index(
    logs: list[SealedLog],
    rows: Iterable[IndexRow],
    index_since: str | None = None,
    sealed_since: Callable[[], set[str]] = set,
    sealed_high: dict[str, int] | None = None,
) -> dict[str, int]:
    """One tenant's index rows against the leaves of all its logs: a tenant's events are
    sealed in several logs (one per retention partition, and per journal partition in a
    fleet) but indexed together. A finding about a leaf goes to the leaf's log, one about a
    row no leaf backs to the tenant's first log.

    ``sealed_since``: ids of events sealed while the logs were being read (the archive of a
    running collector grows meanwhile); a row the leaves read do not back, but whose agent's
    sequence they have passed in another log, is a finding only if it is not among them.
    ``sealed_high``: each agent's highest sealed sequence known from elsewhere (other
    tenants' logs). Returns each agent's highest sealed sequence in these logs."""
    by_id: dict[str, tuple[SealedLog, int, bytes]] = {}
    sealed_high = dict(sealed_high or {})
    own_high: dict[str, int] = {}
    aged_out: set[str] = set()
    for log in logs:
        for number, line in log.leaves:
            doc = orjson.loads(line)
            event = doc["event"]
            by_id[event["id"]] = (log, number, line)
            if index_since is not None and doc.get("@timestamp", "") < index_since:
                aged_out.add(event["id"])
            agent = doc["agent"]["id"]
            own_high[agent] = max(own_high.get(agent, 0), event["sequence"])
    for agent, high in own_high.items():
        sealed_high[agent] = max(sealed_high.get(agent, 0), high)
    trusted = any(log.trusted for log in logs)
    first_log = logs[0]
    seen = set()
    unbacked: list[IndexRow] = []
    for row in rows:
        found = by_id.get(row.event_id)
        log = found[0] if found else first_log
        number = found[1] if found else None
        if type(row.seq) is not int or row.event_id != derive_event_id(row.agent_id, row.seq):
            # Every stored event's id derives from its (agent, sequence): a row whose columns do
            # not is forged or altered, even past what the archive has sealed (where the index
            # may run ahead and a missing leaf proves nothing yet).
            log.finding(
                INDEX_MISMATCH if found else INDEX_EXTRA,
                number,
                number,
                f"index:{row.event_id}",
                f"indexed event's id is not the one its agent ({row.agent_id}) and sequence ({row.seq}) derive",
            )
            if found:
                seen.add(row.event_id)  # found, altered: not missing too
            continue
        altered = _altered_columns(row)
        if altered:
            # The document may be intact while a filter column lies: queries would then find
            # the event under another user, action or time, or miss it.
            log.finding(
                INDEX_MISMATCH,
                number,
                number,
                f"index:{row.event_id}",
                f"indexed columns differ from the event's document: {', '.join(altered)}",
            )
            if found:
                seen.add(row.event_id)
            continue
        if found is None:
            # Not sealed (yet?): an injection when sealing has passed this agent's sequence.
            if row.seq <= sealed_high.get(row.agent_id, 0) or (row.agent_id not in sealed_high and trusted):
                unbacked.append(row)
            continue
        if row.event_id in seen:
            log.finding(
                INDEX_DUPLICATE, number, number, f"index:{row.event_id}", "the index holds this event more than once"
            )
            continue
        seen.add(row.event_id)
        if bytes(row.doc) != found[2]:
            log.finding(INDEX_MISMATCH, number, number, f"index:{row.event_id}", "indexed event differs from its leaf")
    late = sealed_since() if unbacked else set()
    for row in unbacked:
        if row.event_id not in late:
            first_log.finding(
                INDEX_EXTRA,
                None,
                None,
                f"index:{row.event_id}",
                f"indexed event (agent {row.agent_id}, seq {row.seq}) has no leaf in the archive",
            )
    for event_id, (log, number, _) in by_id.items():
        if event_id not in seen and event_id not in aged_out:
            log.finding(INDEX_MISSING, number, number, f"index:{event_id}", "archived event is not in the index")
    return own_high
