import math

import orjson
import pytest

from auditseal.audit.prove import build_proof, check_proof
from auditseal.errors import Rejected
from auditseal.formats.note import Signer
from auditseal.storage import archive
from tests import integrity_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("prove")
    signer = integrity_corpus.build(root, [("acme", 700), ("globex", 20), ("acme", 300)], with_index=False)
    return archive.LocalStore(root / "archive"), signer


event_ids = integrity_corpus.sealed_event_ids


def test_a_proof_for_every_kind_of_position_verifies_offline(corpus):
    store, signer = corpus
    ids = event_ids(store, "acme/0")
    for index in (0, 1, 699, 700, 999):
        bundle = build_proof(store, ids[index], [signer.verifier()])
        assert bundle["leaf_index"] == index and bundle["tree_size"] == 1000
        assert len(bundle["proof"]) <= math.ceil(math.log2(1000))
        assert f"leaf {index} of {signer.name}/acme/0 " in check_proof(
            orjson.loads(orjson.dumps(bundle)), [signer.verifier()]
        )


def test_a_tampered_bundle_or_another_key_fails(corpus):
    store, signer = corpus
    bundle = build_proof(store, event_ids(store, "globex/0")[3], [signer.verifier()], tenant="globex")
    forged = dict(bundle, event=bundle["event"].replace('"outcome":"', '"outcome":"x'))
    with pytest.raises(Rejected, match="audit path"):
        check_proof(forged, [signer.verifier()])
    with pytest.raises(Rejected, match="audit path"):
        check_proof(dict(bundle, leaf_index=bundle["leaf_index"] + 1), [signer.verifier()])
    with pytest.raises(Rejected, match="checkpoint"):
        check_proof(bundle, [Signer.generate("auditseal.test").verifier()])


def test_a_bundle_naming_its_log_by_a_suffix_or_another_log_is_refused(corpus):
    store, signer = corpus
    bundle = build_proof(store, event_ids(store, "acme/0")[3], [signer.verifier()])
    for log in ("0", "cme/0", "globex/0", "", None):
        with pytest.raises(Rejected, match="not for this tree size or log"):
            check_proof(dict(bundle, log=log), [signer.verifier()])


def test_unknown_event_is_not_found(corpus):
    store, signer = corpus
    with pytest.raises(Rejected, match="not in a sealed segment"):
        build_proof(store, "0" * 32, [signer.verifier()])
