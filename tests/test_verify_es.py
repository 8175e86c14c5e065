"""`auditseal verify --index es:URL`: the Elasticsearch index compared with the sealed archive."""

import asyncio

import pytest

from auditseal.audit.verify import INDEX_DUPLICATE, INDEX_MISMATCH, INDEX_MISSING, verify_store
from auditseal.audit.verify_es import elasticsearch_index
from auditseal.formats.note import Signer
from auditseal.storage import archive
from auditseal.storage.segments import Position
from collector.sinks.es import templates
from collector.sinks.sealer import Sealer
from tests.integrity_corpus import journal_batches
from tests.journal_helpers import journal_batch
from tests.test_es_sink import make_sink, tenant


def seal_and_index(es, tmp_path, sizes: list[tuple[str, int]]) -> tuple[Signer, archive.LocalStore]:
    """The same journal batches sealed into a local archive and indexed into Elasticsearch."""
    batches = journal_batches(sizes)
    signer = Signer.generate("auditseal.test")
    sealer = Sealer(archive.LocalStore(tmp_path / "archive"), tmp_path / "sealer", signer, signer.name)
    sealer.open()

    async def index():
        sink, _ = make_sink(es, tmp_path)
        await sink.open()
        for records in batches:
            await sink.process(journal_batch(records, Position(1, records[-1][1].end)))
            sealer.process(journal_batch(records, Position(1, records[-1][1].end)))
        await sink.close()

    asyncio.run(index())
    es._refresh("*")
    return signer, archive.LocalStore(tmp_path / "archive")


@pytest.mark.es_faults  # edits documents inside the test server
def test_missing_edited_and_duplicated_index_documents_are_reported(es, tmp_path):
    t = tenant()
    signer, store = seal_and_index(es, tmp_path, [(t, 40), (t, 30)])
    clean = verify_store(store, [signer.verifier()], index=elasticsearch_index(es.url))
    assert clean.findings == [] and clean.events_verified == 70

    stream = es.streams[templates.data_stream(t)]
    docs = stream.indices[0].docs
    ids = sorted(docs)
    del docs[ids[3]]
    docs[ids[5]] = {**docs[ids[5]], "user": {"name": "mallory"}}
    stream.rollover().docs[ids[7]] = docs[ids[7]]  # stored again after a rollover
    es._refresh("*")
    report = verify_store(store, [signer.verifier()], index=elasticsearch_index(es.url))
    found = sorted((f.code, f.object) for f in report.findings)
    log = f"{t}/0"
    assert found == sorted(
        [
            (INDEX_MISSING, f"{log}/index:{ids[3]}"),
            (INDEX_MISMATCH, f"{log}/index:{ids[5]}"),
            (INDEX_DUPLICATE, f"{log}/index:{ids[7]}"),
        ]
    )


def test_an_unreachable_index_is_a_clear_error(tmp_path):
    from auditseal.errors import Retryable
    from tests.harness import free_port

    rows = elasticsearch_index(f"http://127.0.0.1:{free_port()}")("acme")
    with pytest.raises(Retryable, match="unreachable"):
        list(rows)


@pytest.mark.es_faults
def test_events_past_the_hot_retention_may_be_gone_from_the_index(es, tmp_path):
    t = tenant()
    signer, store = seal_and_index(es, tmp_path, [(t, 20)])
    docs = es.streams[templates.data_stream(t)].indices[0].docs
    for doc_id in sorted(docs)[:5]:
        del docs[doc_id]  # as ILM's delete phase would
    es._refresh("*")
    strict = verify_store(store, [signer.verifier()], index=elasticsearch_index(es.url))
    assert [f.code for f in strict.findings] == [INDEX_MISSING] * 5
    # Everything was written "now": with a cutoff after it, those events have aged out.
    aged = verify_store(
        store, [signer.verifier()], index=elasticsearch_index(es.url), index_since="9999-01-01T00:00:00.000000Z"
    )
    assert aged.findings == []
