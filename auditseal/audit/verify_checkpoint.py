"""One log's checkpoints for ``auditseal verify``: each read, its signature, name and origin
checked; and the newest trusted one compared with the one remembered from the last run."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from auditseal.formats.checkpoint import Checkpoint, CheckpointError
from auditseal.formats.note import NoteError, open_note
from auditseal.storage import archive

from .findings import (
    CHECKPOINT_KEY_UNKNOWN,
    CHECKPOINT_MALFORMED,
    CHECKPOINT_MISPLACED,
    CHECKPOINT_ORIGIN_MISMATCH,
    CHECKPOINT_SIGNATURE_INVALID,
    FORK,
    ROLLBACK,
    TRUNCATION,
    Report,
)


@dataclass
class ParsedCheckpoint:
    counter: int
    key: str
    checkpoint: Checkpoint | None
    trusted: bool


def parse_checkpoint(store, name, key, counter, verifiers, tenant, partition, finding) -> ParsedCheckpoint | None:
    try:
        note = store.get(f"{name}/{key}").decode("utf-8", "replace")
    except FileNotFoundError:
        return None  # removed since it was listed: as absent as if never listed
    try:
        text, signed_by = open_note(note, verifiers)
    except NoteError as exc:
        code = CHECKPOINT_KEY_UNKNOWN if exc.code == "unknown_key" else CHECKPOINT_SIGNATURE_INVALID
        untrusted = _best_effort(note)
        first, last = range_of(untrusted)
        finding(code, first, last, key, str(exc))
        return ParsedCheckpoint(counter, key, untrusted, False)
    try:
        cp = Checkpoint.parse(text)
    except CheckpointError as exc:
        finding(CHECKPOINT_MALFORMED, None, None, key, str(exc))
        return ParsedCheckpoint(counter, key, None, False)
    if cp.counter != counter:
        finding(
            CHECKPOINT_MISPLACED,
            *range_of(cp),
            key,
            f"holds checkpoint {cp.counter} (tree {cp.size}) under the name of checkpoint {counter}",
        )
        return ParsedCheckpoint(counter, key, None, False)
    # The origin's key-name part is bound to the key that signed it: a pinned key's signature
    # over another name's log (other.example/acme/0) is not acme's log.
    if cp.origin != f"{signed_by.name}/{tenant}/{partition}":
        finding(
            CHECKPOINT_ORIGIN_MISMATCH,
            *range_of(cp),
            key,
            f"origin {cp.origin!r} is not {signed_by.name}/{tenant}/{partition}",
        )
        return ParsedCheckpoint(counter, key, cp, False)
    return ParsedCheckpoint(counter, key, cp, True)


def _best_effort(note: str) -> Checkpoint | None:
    try:
        return Checkpoint.parse(note[: note.rfind("\n\n") + 1])
    except CheckpointError:
        return None


def range_of(cp: Checkpoint | None) -> tuple[int | None, int | None]:
    if cp is None:
        return None, None
    if cp.segment is not None:
        return cp.segment.first, cp.segment.first + cp.segment.count - 1
    return None, None


def compare_state(
    name, trusted, parsed, segment_files, report: Report, finding, inconsistent_from: int | None = None
) -> None:
    """Compare with the remembered checkpoint; remember the newest one that verified — never
    one at or past the first checkpoint that does not extend its predecessor."""
    remembered = report.state.get(name)
    newest = trusted[max(trusted)] if trusted else None
    if remembered is not None:
        if newest is None or newest.counter < remembered["counter"] or newest.size < remembered["size"]:
            have = newest.size if newest else 0
            beyond = any(first >= have for first, _ in segment_files)
            misplaced = any(p.checkpoint is None and p.counter >= remembered["counter"] for p in parsed)
            code = ROLLBACK if beyond or misplaced else TRUNCATION
            finding(
                code,
                have,
                remembered["size"] - 1,
                "checkpoints/",
                f"newest valid checkpoint is {newest.counter if newest else 0} (tree {have}); "
                f"checkpoint {remembered['counter']} (tree {remembered['size']}) was verified before",
            )
            return  # keep remembering the newer tree
        same = trusted.get(remembered["counter"])
        if same is not None and base64.b64encode(same.root).decode() != remembered["root"]:
            finding(
                FORK,
                None,
                remembered["size"] - 1,
                archive.checkpoint_key(remembered["counter"]),
                "same checkpoint number, different tree than verified before",
            )
            return
        # The remembered checkpoint itself gone (a finding already): its successor's frontier
        # is the same tree, so the log still must extend what was verified before.
        after = trusted.get(remembered["counter"] + 1) if same is None else None
        if (
            after is not None
            and after.frontier.size == remembered["size"]
            and base64.b64encode(after.frontier.root()).decode() != remembered["root"]
        ):
            finding(
                FORK,
                None,
                remembered["size"] - 1,
                archive.checkpoint_key(after.counter),
                f"does not extend checkpoint {remembered['counter']} (tree {remembered['size']}) verified before",
            )
            return
    good = [c for c in trusted if inconsistent_from is None or c < inconsistent_from]
    if good:
        newest = trusted[max(good)]
        report.state[name] = {
            "counter": newest.counter,
            "size": newest.size,
            "root": base64.b64encode(newest.root).decode(),
        }
