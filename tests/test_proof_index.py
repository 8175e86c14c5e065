"""Proofs served from the proof index equal the ones a full scan builds, verify offline,
follow the archive as it grows, and turn into refusals (never wrong proofs) when the archive
and the index disagree."""

from __future__ import annotations

import hashlib

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditseal.audit.proof_index import IndexGap, ProofIndex
from auditseal.audit.prove import build_proof, check_proof, proof_from_index
from auditseal.errors import Rejected
from auditseal.formats.merkle import inclusion_proof, inclusion_proof_by, leaf_hash, node_hash, root, subtree_root
from auditseal.storage import archive
from tests import integrity_corpus


def perfect_nodes(hashes: list[bytes]) -> dict:
    nodes = {(0, i): h for i, h in enumerate(hashes)}
    level, width = 0, len(hashes)
    while width > 1:
        for i in range(width // 2):
            nodes[(level + 1, i)] = node_hash(nodes[(level, 2 * i)], nodes[(level, 2 * i + 1)])
        level, width = level + 1, width // 2
    return nodes


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 700), st.data())
def test_proofs_from_subtree_roots_equal_proofs_from_every_leaf(size, data):
    hashes = [hashlib.sha256(str(i).encode()).digest() for i in range(size)]
    nodes = perfect_nodes(hashes)
    node = lambda level, idx: nodes[(level, idx)]  # noqa: E731
    index = data.draw(st.integers(0, size - 1))
    assert inclusion_proof_by(node, index, size) == inclusion_proof(index, hashes)
    start = data.draw(st.integers(0, size - 1))
    end = data.draw(st.integers(start, size))
    assert subtree_root(node, start, end) == root(hashes, start, end)


@pytest.fixture
def corpus(tmp_path):
    signer = integrity_corpus.build(tmp_path, [("acme", 700), ("globex", 20), ("acme", 301)], with_index=False)
    return tmp_path, archive.LocalStore(tmp_path / "archive"), signer


ids = integrity_corpus.sealed_event_ids


def test_indexed_proofs_equal_scanned_ones_and_verify_offline(corpus):
    root_dir, store, signer = corpus
    index = ProofIndex(root_dir / "proofs.sqlite")
    acme = ids(store, "acme/0")
    for n in (0, 1, 511, 512, 699, 700, 1000):
        got = proof_from_index(store, index, acme[n], [signer.verifier()], "acme")
        assert got == build_proof(store, acme[n], [signer.verifier()], "acme")
        assert f"leaf {n} of" in check_proof(orjson.loads(orjson.dumps(got)), [signer.verifier()])
    # Another tenant's event is not found through this tenant, and the other way round.
    globex = ids(store, "globex/0")
    with pytest.raises(Rejected) as no:
        proof_from_index(store, index, globex[0], [signer.verifier()], "acme")
    assert no.value.reason == "not_found"
    assert proof_from_index(store, index, globex[0], [signer.verifier()], "globex")["log"] == "globex/0"


def test_the_index_reads_only_what_is_new(corpus, tmp_path):
    root_dir, store, signer = corpus
    index = ProofIndex(root_dir / "proofs.sqlite")
    assert index.catch_up(store, "acme/0") == 1001
    assert index.catch_up(store, "acme/0") == 0
    reopened = ProofIndex(root_dir / "proofs.sqlite")  # kept across restarts
    assert reopened.catch_up(store, "acme/0") == 0
    assert reopened.locate(ids(store, "acme/0")[5])[:2] == ("acme/0", 5)


def test_a_changed_archive_gives_a_refusal_not_a_wrong_proof(corpus):
    root_dir, store, signer = corpus
    index = ProofIndex(root_dir / "proofs.sqlite")
    acme = ids(store, "acme/0")
    proof_from_index(store, index, acme[3], [signer.verifier()], "acme")
    # The tamperer rewrites the first segment (same leaves count, one event changed).
    key = store.list("acme/0/segments")[0]
    lines = archive.decode_segment(store.get(key))
    lines[3] = lines[3].replace(b'"outcome":"', b'"outcome":"x')
    path = root_dir / "archive" / key
    path.chmod(0o644)
    path.write_bytes(archive.encode_segment(lines))
    with pytest.raises(Rejected) as refused:
        proof_from_index(store, index, acme[3], [signer.verifier()], "acme")
    assert refused.value.reason == "archive_incomplete"
    assert leaf_hash(lines[4]) == leaf_hash(archive.decode_segment(store.get(key))[4])


def test_a_missing_segment_stops_indexing_that_log(corpus):
    root_dir, store, signer = corpus
    keys = store.list("acme/0/segments")
    (root_dir / "archive" / keys[0]).unlink()
    index = ProofIndex(root_dir / "proofs.sqlite")
    with pytest.raises(IndexGap):
        index.catch_up(store, "acme/0")
    with pytest.raises(Rejected) as refused:
        proof_from_index(store, index, ids(store, "acme/0")[0], [signer.verifier()], "acme")
    assert refused.value.reason == "archive_incomplete"
