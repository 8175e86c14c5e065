"""Inclusion proofs for single events, verifiable offline with the pinned verifier key.

A proof bundle (JSON, ``"version": 1``)::

    {"version": 1, "log": "<tenant>/<partition>", "event": "<stored canonical JSON>",
     "leaf_index": i, "tree_size": n, "proof": ["<base64 hash>", ...],
     "checkpoint": "<signed checkpoint note of tree size n>"}

Checking needs nothing but the bundle and the verifier key: the note's signature, its
size and root, the leaf hash of the event bytes and the RFC 9162 audit path.
"""

from __future__ import annotations

import base64

import orjson

from auditseal.errors import Rejected
from auditseal.formats.checkpoint import Checkpoint, CheckpointError
from auditseal.formats.merkle import inclusion_proof, leaf_hash, verify_inclusion
from auditseal.formats.note import NoteError, Verifier, open_note
from auditseal.storage import archive


def newest_checkpoint(store, log: str, verifiers: list[Verifier]) -> tuple[Checkpoint, str]:
    counters = sorted(
        (int(m.group(1)), key)
        for key in store.list(f"{log}/checkpoints")
        if (m := archive.CHECKPOINT_RE.match(key[len(log) + 1 :]))
    )
    for _, key in reversed(counters):
        note = store.get(key).decode()
        try:
            text, _ = open_note(note, verifiers)
            return Checkpoint.parse(text), note
        except (NoteError, CheckpointError):
            continue
    raise Rejected("no_checkpoint", f"log {log} has no checkpoint signed by a pinned key")


def build_proof(store, event_id: str, verifiers: list[Verifier], tenant: str | None = None, cipher=None) -> dict:
    needle = f'"id":"{event_id}"'.encode()
    logs = [(t, p) for t, p in archive.list_logs(store) if tenant is None or t == tenant]
    for t, p in logs:
        log = f"{t}/{p}"
        checkpoint, note = newest_checkpoint(store, log, verifiers)
        hashes: list[bytes] = []
        found: tuple[int, bytes] | None = None
        for key in sorted(k for k in store.list(f"{log}/segments")):
            m = archive.SEGMENT_RE.match(key[len(log) + 1 :])
            if not m or int(m.group(1)) >= checkpoint.size:
                continue
            for line in archive.decode_segment(store.get(key), cipher, key):
                if found is None and needle in line and orjson.loads(line)["event"]["id"] == event_id:
                    found = (len(hashes), line)
                hashes.append(leaf_hash(line))
        if found is None:
            continue
        if len(hashes) != checkpoint.size:
            raise Rejected(
                "archive_incomplete",
                f"log {log}: segments hold {len(hashes)} leaves, "
                f"checkpoint says {checkpoint.size}; run auditseal verify",
            )
        index, line = found
        return {
            "version": 1,
            "log": log,
            "event": line.decode(),
            "leaf_index": index,
            "tree_size": checkpoint.size,
            "proof": [base64.b64encode(h).decode() for h in inclusion_proof(index, hashes)],
            "checkpoint": note,
        }
    raise Rejected("not_found", f"event {event_id} is not in a sealed segment (yet)")


def proof_from_index(store, index, event_id: str, verifiers: list[Verifier], tenant: str, cipher=None) -> dict:
    """The same bundle as ``build_proof``, from a ``proof_index.ProofIndex`` (caught up first
    for the tenant's logs: only segments new since the last call are read)."""
    from auditseal.audit.proof_index import IndexGap

    logs = [f"{t}/{p}" for t, p in archive.list_logs(store) if t == tenant]
    for log in logs:
        try:
            index.catch_up(store, log, cipher)
        except IndexGap as exc:
            raise Rejected("archive_incomplete", f"{exc}; run auditseal verify") from None
    found = index.locate(event_id)
    if found is None or found[0] not in logs:
        raise Rejected("not_found", "no such event in a sealed segment of this tenant (yet)")
    log, leaf, indexed = found
    checkpoint, note = newest_checkpoint(store, log, verifiers)
    if leaf >= checkpoint.size:
        raise Rejected("not_found", "the event is not under a signed checkpoint (yet)")
    if indexed < checkpoint.size:
        raise Rejected(
            "archive_incomplete",
            f"log {log}: segments hold {indexed} leaves, checkpoint says {checkpoint.size}; run auditseal verify",
        )
    key, first = index.segment_of(log, leaf)
    line = archive.decode_segment(store.get(key), cipher, key)[leaf - first]
    proof, leaf_digest, tree_root = index.audit_path(log, leaf, checkpoint.size)
    if leaf_hash(line) != leaf_digest or tree_root != checkpoint.root:
        raise Rejected(
            "archive_incomplete", f"log {log}: the archive no longer matches what was read; run auditseal verify"
        )
    return {
        "version": 1,
        "log": log,
        "event": line.decode(),
        "leaf_index": leaf,
        "tree_size": checkpoint.size,
        "proof": [base64.b64encode(h).decode() for h in proof],
        "checkpoint": note,
    }


def check_proof(bundle: dict, verifiers: list[Verifier]) -> str:
    """Verify a proof bundle offline; returns a one-line confirmation or raises ``Rejected``."""
    try:
        text, verifier = open_note(bundle["checkpoint"], verifiers)
        checkpoint = Checkpoint.parse(text)
        proof = [base64.b64decode(h) for h in bundle["proof"]]
        event = bundle["event"].encode()
        index, size = int(bundle["leaf_index"]), int(bundle["tree_size"])
    except NoteError as exc:
        raise Rejected("bad_checkpoint", f"checkpoint: {exc}") from None
    except (KeyError, ValueError, TypeError, CheckpointError) as exc:
        raise Rejected("malformed", f"malformed proof bundle: {exc}") from None
    # The signed origin names the log, and its key-name part is the signing key's: the
    # bundle's own "log" must be exactly the rest of it (not a suffix such as "0").
    log = (
        f"{checkpoint.origin[len(verifier.name) + 1 :]}" if checkpoint.origin.startswith(verifier.name + "/") else None
    )
    if checkpoint.size != size or log is None or bundle.get("log") != log:
        raise Rejected("mismatch", "the checkpoint is not for this tree size or log")
    if not verify_inclusion(leaf_hash(event), index, size, proof, checkpoint.root):
        raise Rejected("not_included", "the audit path does not lead to the signed root")
    event_id = orjson.loads(event)["event"]["id"]
    return (
        f"event {event_id} is leaf {index} of {checkpoint.origin} (tree {size}), "
        f"signed by {verifier.name}; proof of {len(proof)} hashes verified"
    )
