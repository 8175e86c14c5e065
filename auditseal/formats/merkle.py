"""RFC 9162 (RFC 6962) Merkle tree hashing, proofs, and an append-only compact range.

    leaf hash = SHA-256(0x00 ‖ leaf bytes)
    node hash = SHA-256(0x01 ‖ left ‖ right)
    MTH(D[n]) splits at k, the largest power of two smaller than n.

Proof generation follows RFC 6962 §2.1.1/§2.1.2 (PATH, SUBPROOF); verification follows
RFC 9162 §2.1.3.2 and §2.1.4.2. ``CompactRange`` holds the roots of the perfect subtrees
covering [0, size): enough to append leaves and compute the root in O(log n) memory, and
what a checkpoint carries so each archive segment can be verified on its own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than n (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(hashes: list[bytes], start: int = 0, end: int | None = None) -> bytes:
    """MTH over leaf hashes[start:end]."""
    end = len(hashes) if end is None else end
    n = end - start
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[start]
    # Iterative: fold the perfect subtrees left to right, as a compact range does.
    return CompactRange.from_hashes(hashes[start:end]).root()


def inclusion_proof(index: int, hashes: list[bytes]) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree of all ``hashes`` (RFC 6962 PATH)."""
    return inclusion_proof_by(lambda level, i: root(hashes, i << level, (i + 1) << level), index, len(hashes))


def subtree_root(node, start: int, end: int) -> bytes:
    """MTH of leaves [start, end) from ``node(level, i)``, the root of the perfect subtree of
    leaves [i·2^level, (i+1)·2^level): O(log n) lookups instead of n leaf hashes."""
    n = end - start
    if n == 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0 and start % n == 0:
        return node(n.bit_length() - 1, start // n)
    k = _split(n)
    return node_hash(subtree_root(node, start, start + k), subtree_root(node, start + k, end))


def inclusion_proof_by(node, index: int, size: int) -> list[bytes]:
    """``inclusion_proof`` of leaf ``index`` in a tree of ``size`` leaves, from stored subtree
    roots (see ``subtree_root``)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} not in a tree of {size}")
    proof: list[bytes] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            proof.append(subtree_root(node, start + k, end))
            end = start + k
        else:
            proof.append(subtree_root(node, start, start + k))
            start, m = start + k, m - k
    proof.reverse()
    return proof


def consistency_proof(first: int, hashes: list[bytes]) -> list[bytes]:
    """Proof that the tree of the first ``first`` leaves is a prefix (RFC 6962 SUBPROOF)."""
    n = len(hashes)
    if not 0 < first <= n:
        raise ValueError(f"no consistency proof from {first} to {n}")
    proof: list[bytes] = []
    start, end, m, whole = 0, n, first, True
    while True:
        size = end - start
        if m == size:
            if not whole:
                proof.append(root(hashes, start, end))
            break
        k = _split(size)
        if m <= k:
            proof.append(root(hashes, start + k, end))
            end = start + k
        else:
            proof.append(root(hashes, start, start + k))
            start, m, whole = start + k, m - k, False
    proof.reverse()
    return proof


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], expected_root: bytes) -> bool:
    """RFC 9162 §2.1.3.2; ``leaf`` is the leaf *hash*."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(first: int, second: int, proof: list[bytes], first_root: bytes, second_root: bytes) -> bool:
    """RFC 9162 §2.1.4.2."""
    if first < 1 or second < first:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first & (first - 1) == 0:
        proof = [first_root, *proof]
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


@dataclass
class CompactRange:
    """Roots of the perfect subtrees covering leaves [0, size), largest (leftmost) first."""

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    @classmethod
    def from_hashes(cls, leaf_hashes: list[bytes]) -> "CompactRange":
        cr = cls()
        for h in leaf_hashes:
            cr.append(h)
        return cr

    def append(self, leaf: bytes) -> None:
        """Add one leaf *hash*: merge equal-sized subtrees, like binary addition."""
        self.hashes.append(leaf)
        size = self.size
        while size & 1:
            right = self.hashes.pop()
            self.hashes[-1] = node_hash(self.hashes[-1], right)
            size >>= 1
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        acc = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            acc = node_hash(h, acc)
        return acc

    def copy(self) -> "CompactRange":
        return CompactRange(self.size, list(self.hashes))

    def valid(self) -> bool:
        """The number of hashes matches the size (one per set bit)."""
        return len(self.hashes) == bin(self.size).count("1")
