"""RFC 9162 hashing against the certificate-transparency reference vectors.

Vectors: google/certificate-transparency merkle_tree_test (the leaves, roots for sizes 1-8,
audit paths and consistency proofs), also used by transparency-dev/merkle.
"""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from auditseal.formats import merkle

LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]
HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, audit path)
INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (first size, second size, proof)
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


def test_roots_match_the_reference_for_every_size():
    for n in range(len(ROOTS)):
        assert merkle.root(HASHES[:n]).hex() == ROOTS[n]
        assert merkle.CompactRange.from_hashes(HASHES[:n]).root().hex() == ROOTS[n]


def test_inclusion_proofs_match_the_reference():
    for index, size, path in INCLUSION:
        proof = merkle.inclusion_proof(index, HASHES[:size])
        assert [p.hex() for p in proof] == path
        root = bytes.fromhex(ROOTS[size])
        assert merkle.verify_inclusion(HASHES[index], index, size, proof, root)
        assert not merkle.verify_inclusion(HASHES[index], index, size, proof, bytes.fromhex(ROOTS[size - 1]))
        assert not merkle.verify_inclusion(HASHES[(index + 1) % size], index, size, proof, root)


def test_consistency_proofs_match_the_reference():
    for first, second, path in CONSISTENCY:
        proof = merkle.consistency_proof(first, HASHES[:second])
        assert [p.hex() for p in proof] == path
        assert merkle.verify_consistency(
            first, second, proof, bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second])
        )
        if first != second:
            assert not merkle.verify_consistency(
                first, second, proof, bytes.fromhex(ROOTS[first - 1]), bytes.fromhex(ROOTS[second])
            )


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.data())
def test_every_proof_verifies_and_is_at_most_log2_n_hashes(n, data):
    hashes = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    root = merkle.root(hashes)
    index = data.draw(st.integers(0, n - 1))
    proof = merkle.inclusion_proof(index, hashes)
    assert len(proof) <= math.ceil(math.log2(n)) if n > 1 else proof == []
    assert merkle.verify_inclusion(hashes[index], index, n, proof, root)
    first = data.draw(st.integers(1, n))
    cproof = merkle.consistency_proof(first, hashes)
    assert merkle.verify_consistency(first, n, cproof, merkle.root(hashes[:first]), root)


@given(st.lists(st.binary(max_size=8), max_size=70))
def test_compact_range_appends_match_the_full_tree(leaves):
    cr = merkle.CompactRange()
    hashes = []
    for leaf in leaves:
        h = merkle.leaf_hash(leaf)
        hashes.append(h)
        cr.append(h)
        assert cr.valid() and cr.size == len(hashes)
        assert cr.root() == merkle.root(hashes)
