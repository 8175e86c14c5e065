"""``verify --index`` of a tenant whose events are sealed in several logs (one per retention
partition, and per journal partition in a fleet) but indexed together: the index is compared
with all of the tenant's logs at once, so no log's events look injected to another, and what
a running collector seals while the verifier reads is not a finding."""

import sqlite3
import orjson

from auditseal.dev import samples
from auditseal.audit.verify import sqlite_index, verify_store
from auditseal.formats.event import canonical_bytes, event_id
from auditseal.formats.index_layout import SQLITE_INSERT, sqlite_row
from auditseal.formats.note import Signer
from auditseal.storage import archive
from auditseal.storage.segments import Position
from collector.retention import RetentionPolicy
from collector.sinks.sealer import Sealer
from collector.sinks.sqlite_index import SqliteIndex
from tests import integrity_corpus
from tests.journal_helpers import journal_batch

# Authentication events go to the log "auth", the rest to "0".
RETENTION = RetentionPolicy.model_validate({"rules": [{"name": "auth", "categories": ["authentication"]}]})


def per_log(sequences) -> dict[str, int]:
    """How many of the events with these sequences each log holds."""
    auth = sum("authentication" in samples.event(n)["event"]["category"] for n in sequences)
    return {"acme/0": len(sequences) - auth, "acme/auth": auth}


class Pipeline:
    """The real sealer (with a retention rule) and SQLite index over the same journal batches."""

    def __init__(self, root):
        self.root = root
        self.signer = Signer.generate("auditseal.test")
        self.store = archive.LocalStore(root / "archive")
        self.sealer = Sealer(self.store, root / "sealer", self.signer, self.signer.name, retention=RETENTION)
        self.sealer.open()
        self.index = SqliteIndex(root / "index.sqlite")
        self.index.open()

    def journal(self, batches, seq, offset=8):
        return integrity_corpus.journal_batches(batches, seq=seq, offset=offset)

    def seal(self, records):
        self.sealer.process(journal_batch(records, Position(1, records[-1][1].end)))

    def index_batch(self, records):
        self.index.process(journal_batch(records, Position(1, records[-1][1].end)))

    def verify(self, store=None):
        self.index.close()
        self.index.open()
        return verify_store(
            store or self.store, [self.signer.verifier()], None, sqlite_index(str(self.root / "index.sqlite"))
        )


def test_a_tenant_in_two_retention_logs_verifies_against_its_index_and_tampering_is_found(tmp_path):
    pipe = Pipeline(tmp_path)
    # Sequences 1-600, then 701-1000: 601-700 were never sent.
    batches = pipe.journal([("acme", 300), ("acme", 300)], seq=0)
    end = batches[-1][-1][1].end
    batches += pipe.journal([("acme", 300)], seq=700, offset=end)
    for records in batches:
        pipe.seal(records)
        pipe.index_batch(records)
    assert sorted(archive.list_logs(pipe.store)) == [("acme", "0"), ("acme", "auth")]

    report = pipe.verify()
    assert report.findings == []
    assert report.logs == per_log([*range(1, 601), *range(701, 1001)])

    conn = sqlite3.connect(tmp_path / "index.sqlite")
    rows = conn.execute("SELECT rowid, event_id, seq, doc FROM events ORDER BY seq").fetchall()
    auth_row = next(r for r in rows if b'"authentication"' in r[3])
    conn.execute("DELETE FROM events WHERE rowid = ?", (auth_row[0],))
    # A forged event inside the sealed range, under its own derived id, with every column what
    # its document gives: sequence 650 was never sealed, in either log.
    doc = orjson.loads(rows[0][3])
    doc["event"]["sequence"] = 650
    doc["event"]["id"] = event_id(integrity_corpus.AGENT, 650)
    stored = canonical_bytes(doc)
    conn.execute(SQLITE_INSERT, sqlite_row(doc, stored))
    conn.commit()
    conn.close()

    report = pipe.verify()
    assert sorted((f.code, f.log, f.object) for f in report.findings) == [
        ("INDEX_EXTRA", "acme/0", f"acme/0/index:{doc['event']['id']}"),
        ("INDEX_MISSING", "acme/auth", f"acme/auth/index:{auth_row[1]}"),
    ]


class SealsDuringRead:
    """The archive of a running collector: the sealer seals ``records`` just before the
    verifier lists the log ``when`` (after it has read the tenant's other log)."""

    def __init__(self, pipe, records, when):
        self.pipe, self.records, self.when = pipe, records, when
        self.immutable = pipe.store.immutable

    def __getattr__(self, name):
        return getattr(self.pipe.store, name)

    def list(self, prefix, start_after=None):
        if prefix == self.when and self.records:
            self.pipe.seal(self.records)
            self.records = None
        return self.pipe.store.list(prefix, start_after)


def test_events_sealed_while_the_verifier_reads_the_tenants_logs_are_not_findings(tmp_path):
    pipe = Pipeline(tmp_path)
    batches = pipe.journal([("acme", 300), ("acme", 300), ("acme", 300)], seq=0)
    for records in batches:
        pipe.index_batch(records)  # the index runs ahead of the archive
    for records in batches[:2]:
        pipe.seal(records)
    # The log "0" is read before the third batch is sealed and "auth" after: "auth" passes
    # sequences whose "0" events the verifier has not seen in "0".
    report = pipe.verify(SealsDuringRead(pipe, batches[2], "acme/auth"))
    assert report.findings == []
    assert report.logs == {"acme/0": per_log(range(1, 601))["acme/0"], "acme/auth": per_log(range(1, 901))["acme/auth"]}
    again = pipe.verify()  # all sealed now
    assert again.findings == [] and again.logs == per_log(range(1, 901))


def test_rows_under_a_tenant_the_archive_has_no_log_of_are_each_a_finding(tmp_path):
    pipe = Pipeline(tmp_path)
    for records in pipe.journal([("acme", 300)], seq=0):
        pipe.seal(records)
        pipe.index_batch(records)
    conn = sqlite3.connect(tmp_path / "index.sqlite")
    # Two acme events (authentication) moved to a tenant never archived, every column consistent.
    forged = []
    for (stored,) in conn.execute("SELECT doc FROM events ORDER BY seq LIMIT 2").fetchall():
        doc = orjson.loads(stored)
        doc["organization"]["id"] = "initech"
        forged.append(doc["event"]["id"])
        conn.execute("DELETE FROM events WHERE event_id = ?", (doc["event"]["id"],))
        conn.execute(SQLITE_INSERT, sqlite_row(doc, canonical_bytes(doc)))
    conn.commit()
    conn.close()
    report = pipe.verify()
    assert sorted((f.code, f.log, f.object) for f in report.findings) == sorted(
        [("INDEX_EXTRA", "initech", f"initech/index:{event}") for event in forged]
        + [("INDEX_MISSING", "acme/auth", f"acme/auth/index:{event}") for event in forged]
    )


def test_a_new_tenants_events_not_sealed_yet_are_not_findings(tmp_path, monkeypatch):
    """The index runs ahead of the archive: a tenant's first events are indexed before its
    first log exists. Their agent's sealed sequence (in acme's logs) has not passed them, or
    the agent has nothing sealed yet."""
    pipe = Pipeline(tmp_path)
    sealed = pipe.journal([("acme", 300)], seq=0)
    ahead = pipe.journal([("initech", 100)], seq=300, offset=sealed[-1][-1][1].end)
    monkeypatch.setattr(integrity_corpus, "AGENT", "db-7")  # a new agent, too
    ahead += pipe.journal([("hooli", 50)], seq=0, offset=ahead[-1][-1][1].end)
    for records in sealed:
        pipe.seal(records)
        pipe.index_batch(records)
    for records in ahead:
        pipe.index_batch(records)
    assert pipe.verify().findings == []
    for records in ahead:
        pipe.seal(records)
    report = pipe.verify()
    assert report.findings == [] and sorted(report.logs) == [
        f"{tenant}/{log}" for tenant in ("acme", "hooli", "initech") for log in ("0", "auth")
    ]
