"""The word-index check of ``verify --index`` against a real FTS5 index with any messages:
an untouched index has no row with wrong words, whatever the text; one altered row is found."""

import sqlite3

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from auditseal.audit.verify_index import rows_with_wrong_words
from auditseal.formats.index_layout import SQLITE_EVENTS_SCHEMA, SQLITE_V2_SCHEMA

messages = st.lists(
    st.one_of(
        st.none(),
        st.text(max_size=60),
        st.sampled_from(["Zürich ÅNGSTRÖM naïve", "user_1 a-b c.d", "東京 ログイン 失败", "🙂 x 🙂", "", "  "]),
    ),
    min_size=1,
    max_size=40,
)


def index_with(path, texts):
    conn = sqlite3.connect(path)
    conn.executescript(SQLITE_EVENTS_SCHEMA + SQLITE_V2_SCHEMA)
    conn.executemany(
        "INSERT INTO events (event_id, tenant, ts, action, agent_id, seq, doc, message) "
        "VALUES (?, 'acme', 't', 'a', 'agent', ?, x'7b7d', ?)",
        [(f"id{i}", i, text) for i, text in enumerate(texts)],
    )
    conn.commit()
    return conn


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=messages, victim=st.integers(0, 1000))
def test_any_messages_untouched_then_one_row_altered(tmp_path_factory, texts, victim):
    path = tmp_path_factory.mktemp("words") / "index.sqlite"
    conn = index_with(path, texts)
    read_only = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert rows_with_wrong_words(read_only) == set()
    read_only.close()
    rowid = victim % len(texts) + 1
    conn.execute("INSERT INTO events_text (rowid, message) VALUES (?, 'planted')", (rowid,))
    conn.commit()
    read_only = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert rows_with_wrong_words(read_only) == {rowid}


def test_an_index_without_a_word_index_has_nothing_to_check(tmp_path):
    conn = sqlite3.connect(tmp_path / "index.sqlite")
    conn.executescript(SQLITE_EVENTS_SCHEMA)
    assert rows_with_wrong_words(conn) == set()


def test_rows_the_collector_adds_during_the_check_are_not_findings(tmp_path):
    """A live index (WAL) gains rows while the check runs: the messages indexed again and the
    word index walked come from one snapshot, so the new rows are in neither."""
    path = tmp_path / "index.sqlite"
    writer = index_with(path, [f"event {i} by alice" for i in range(50)])
    writer.execute("PRAGMA journal_mode=WAL")

    class Interleaved:
        """The verifier's connection; the collector writes right after the fresh words are built."""

        def __init__(self, conn):
            self.conn = conn

        def __getattr__(self, name):
            return getattr(self.conn, name)

        def execute(self, sql, *args):
            done = self.conn.execute(sql, *args)
            if sql.startswith("INSERT INTO temp.words_fresh"):
                writer.executemany(
                    "INSERT INTO events (event_id, tenant, ts, action, agent_id, seq, doc, message) "
                    "VALUES (?, 'acme', 't', 'a', 'agent', ?, x'7b7d', 'written meanwhile')",
                    [(f"late{i}", 1000 + i) for i in range(20)],
                )
                writer.commit()
            return done

    # In autocommit mode, so nothing but the check's own transaction holds the snapshot.
    read_only = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    assert rows_with_wrong_words(Interleaved(read_only)) == set()
    assert writer.execute("SELECT count(*) FROM events").fetchone()[0] == 70
