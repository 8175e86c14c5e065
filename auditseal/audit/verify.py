"""Offline, read-only verification of an archive against pinned verifier keys.

For every (tenant, partition) log: checks each checkpoint's signature, numbering and
origin; re-hashes every segment and recomputes its signed root from the checkpoint's
frontier (so each segment verifies on its own); checks that successive checkpoints chain
(the frontier's root is the previous checkpoint's root); finds segments no checkpoint
signs; compares the newest checkpoint with the one remembered from the last run (state)
to catch truncation and rollback; optionally compares the index with the archive.

Each finding has a stable code, the log, the leaf range and the object.
"""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Callable, Iterable

from auditseal.errors import Rejected
from auditseal.formats.checkpoint import Checkpoint
from auditseal.formats.crypto import SegmentCipher, is_encrypted
from auditseal.formats.merkle import leaf_hash
from auditseal.formats.note import Verifier
from auditseal.storage import archive

# Re-exported: verify is the one import for callers.
from .findings import (  # noqa: F401
    CHECKPOINT_KEY_UNKNOWN,
    CHECKPOINT_MALFORMED,
    CHECKPOINT_MISPLACED,
    CHECKPOINT_MISSING,
    CHECKPOINT_ORIGIN_MISMATCH,
    CHECKPOINT_SIGNATURE_INVALID,
    CONSISTENCY_FAILURE,
    FORK,
    LOG_MISSING,
    OBJECT_DELETE_MARKER,
    OBJECT_OVERWRITTEN,
    ROLLBACK,
    ROOT_MISMATCH,
    SEGMENT_CORRUPT,
    SEGMENT_HASH_MISMATCH,
    SEGMENT_MISSING,
    SEGMENT_UNSIGNED,
    TRUNCATION,
    UNKNOWN_OBJECT,
    Finding,
    Report,
)
from .verify_checkpoint import compare_state, parse_checkpoint
from .verify_index import (  # noqa: F401
    INDEX_DUPLICATE,
    INDEX_EXTRA,
    INDEX_MISMATCH,
    INDEX_MISSING,
    IndexRow,
    SealedLog,
    compare_index,
    sealed_since,
    sqlite_index,
)


def verify_store(
    store: archive.Store,
    verifiers: list[Verifier],
    state: dict | None = None,
    index: Callable[[str], Iterable[IndexRow]] | None = None,
    cipher: SegmentCipher | None = None,
    index_since: str | None = None,
    incremental: bool = False,
) -> Report:
    """Without ``cipher``, encrypted segments are checked against their signed SHA-256 only
    (that binds their content); their leaves are recomputed when the key is given.
    ``index_since`` (canonical UTC ISO): events older than this have aged out of the index
    (its hot retention), so their absence there is not a finding.
    ``incremental`` (for stores whose objects cannot change, S3 Object Lock): a log known in
    ``state`` is verified from its remembered checkpoint on — that checkpoint's root is
    checked, what it already covered is not downloaded again; delete markers and overwrites
    are still found by listing."""
    if incremental and index is not None:
        raise ValueError("an index comparison needs every leaf: not with incremental verification")
    report = Report(state=dict(state or {}))
    present = set()
    by_tenant: dict[str, list[str]] = {}
    agent_high: dict[str, int] = {}  # each agent's highest sealed sequence, in any tenant's logs
    for tenant, partition in archive.list_logs(store):
        by_tenant.setdefault(tenant, []).append(partition)
    for tenant, partitions in by_tenant.items():
        # A tenant's logs (one per retention and journal partition) are compared with its
        # index rows together, once all are read.
        logs: list[tuple[list[Finding], SealedLog]] = []
        read: set[str] = set()
        for partition in sorted(partitions):
            present.add(f"{tenant}/{partition}")
            logs.append(
                _verify_log(store, tenant, partition, verifiers, report, cipher, read, index is not None, incremental)
            )
        if index is not None:
            highs = compare_index(
                [log for _, log in logs],
                index(tenant),
                index_since,
                partial(sealed_since, store, tenant, read, cipher),
            )
            for agent, high in highs.items():
                agent_high[agent] = max(agent_high.get(agent, 0), high)
        for found, _ in logs:
            found.sort(key=lambda f: (f.first if f.first is not None else -1, f.code))
            report.findings.extend(found)
    held = getattr(index, "tenants", None)  # an index that can list its tenants (SQLite)
    for tenant in sorted(held() - set(by_tenant)) if held is not None else []:
        # Rows under a tenant the archive has no log of: none is backed by a leaf, and one is
        # a finding where its agent's sealed sequence in other tenants' logs has passed it (an
        # agent's stream is sealed in order, whatever the tenant of each event).
        unbacked: list[Finding] = []
        unlogged = SealedLog(tenant, [], False, partial(_add_finding, unbacked, tenant))
        compare_index(
            [unlogged], index(tenant), index_since, partial(sealed_since, store, tenant, set(), cipher), agent_high
        )
        report.findings.extend(unbacked)
    for rowid in sorted(getattr(index, "orphan_words", ())):
        report.findings.append(
            Finding(
                INDEX_EXTRA,
                "index",
                None,
                None,
                f"index/events_text:{rowid}",
                f"the word index holds words for row {rowid}, which does not exist",
            )
        )
    _report_missing_logs(report, present)
    if isinstance(store, archive.LocalStore):  # (an S3 archive is not listed whole: too costly)
        for key in store.list(""):
            parts = key.split("/")
            if len(parts) < 4 or "/".join(parts[:2]) not in present or parts[2] not in ("segments", "checkpoints"):
                report.findings.append(
                    Finding(UNKNOWN_OBJECT, "/".join(parts[:2]), None, None, key, "outside the archive's layout")
                )
    _report_anomalies(store, report)
    return report


def _add_finding(found: list[Finding], log: str, code, first, last, obj, detail) -> None:
    found.append(Finding(code, log, first, last, f"{log}/{obj}", detail))


def _report_missing_logs(report: Report, present: set[str]) -> None:
    """A log the state remembers but the archive no longer holds: all its leaves are gone.
    It stays remembered, so every later run reports it too."""
    for name, remembered in sorted(report.state.items()):
        if name in present or not isinstance(remembered, dict) or "size" not in remembered:
            continue
        size = remembered["size"]
        report.findings.append(
            Finding(
                LOG_MISSING,
                name,
                0 if size else None,
                size - 1 if size else None,
                f"{name}/",
                f"verified before up to checkpoint {remembered.get('counter')} "
                f"(tree {size}); no object of it is in the archive now",
            )
        )


def _report_anomalies(store, report: Report) -> None:
    """A versioned store (S3) is read by first version; attempts to hide or replace an
    object (delete markers, later versions) are reported, though the record is intact."""
    from auditseal.storage.archive_s3 import DELETE_MARKER

    for anomaly in store.anomalies():
        parts = anomaly.key.split("/")
        name = "/".join(parts[:2])
        rel = "/".join(parts[2:])
        m = archive.SEGMENT_RE.match(rel)
        first, last = (int(m.group(1)), int(m.group(2))) if m else (None, None)
        if anomaly.kind == DELETE_MARKER:
            report.findings.append(
                Finding(
                    OBJECT_DELETE_MARKER,
                    name,
                    first,
                    last,
                    anomaly.key,
                    f"delete marker {anomaly.version_id} hides this object; the locked "
                    f"version is intact and was verified",
                )
            )
        else:
            report.findings.append(
                Finding(
                    OBJECT_OVERWRITTEN,
                    name,
                    first,
                    last,
                    anomaly.key,
                    f"a later version {anomaly.version_id} was written over this "
                    f"object; the first (locked) version was verified",
                )
            )


def _verify_log(
    store,
    tenant: str,
    partition: str,
    verifiers,
    report: Report,
    cipher,
    read: set[str],
    keep_leaves: bool = False,
    incremental: bool = False,
) -> tuple[list[Finding], SealedLog]:
    """The log's findings (not yet in the report) and, with ``keep_leaves``, its verified
    leaves for the index comparison; the keys of the segments they come from are added to
    ``read``."""
    name = f"{tenant}/{partition}"
    remembered = report.state.get(name) if incremental else None
    floor = remembered["counter"] if remembered else 0  # verified up to this checkpoint before
    if floor:
        keys = [
            k[len(name) + 1 :]
            for k in store.list(f"{name}/segments/", f"{name}/segments/{remembered['size']:012d}")
            + store.list(f"{name}/checkpoints/", f"{name}/{archive.checkpoint_key(floor - 1)}")
        ]
    else:
        keys = [k[len(name) + 1 :] for k in store.list(name)]
    segment_files = {}
    for k in keys:
        m = archive.SEGMENT_RE.match(k)
        if m:
            segment_files[(int(m.group(1)), int(m.group(2)))] = k
    found: list[Finding] = []

    finding = partial(_add_finding, found, name)

    for k in keys:  # in a write-once archive every object is ours or a finding
        if not archive.SEGMENT_RE.match(k) and not archive.CHECKPOINT_RE.match(k):
            finding(UNKNOWN_OBJECT, None, None, k, "not a segment or checkpoint of this log")
    parsed = [
        p
        for k in keys
        if (m := archive.CHECKPOINT_RE.match(k))
        if (p := parse_checkpoint(store, name, k, int(m.group(1)), verifiers, tenant, partition, finding))
    ]
    parsed.sort(key=lambda p: p.counter)
    trusted = {p.counter: p.checkpoint for p in parsed if p.trusted}
    present = {p.counter for p in parsed}
    # Numbering: 1..newest, no holes.
    newest_counter = max(present, default=0)
    missing_counters = [c for c in range(max(floor, 1), newest_counter + 1) if c not in present]

    declared: dict[tuple[int, int], Checkpoint] = {}
    for p in parsed:
        cp = p.checkpoint
        if p.counter <= floor:
            continue  # its segment was verified by the run that remembered it
        if cp is not None and cp.segment is not None:
            declared[(cp.segment.first, cp.segment.first + cp.segment.count - 1)] = cp
    all_ranges = set(segment_files) | set(declared)
    report.segments_total += len(all_ranges)

    leaves: list[tuple[int, bytes]] = []
    inconsistent: list[int] = []  # checkpoints that do not extend the one before them
    for counter in sorted(trusted):
        cp = trusted[counter]
        previous = trusted.get(counter - 1)
        if previous is not None and (cp.frontier.size != previous.size or cp.frontier.root() != previous.root):
            inconsistent.append(counter)
            finding(
                CONSISTENCY_FAILURE,
                previous.size,
                cp.size - 1,
                archive.checkpoint_key(counter),
                f"does not extend checkpoint {counter - 1} (tree {previous.size})",
            )
        if counter <= floor:
            continue  # the remembered checkpoint: its root is compared with the state below
        if cp.segment is None:
            if cp.frontier.size != cp.size or cp.frontier.root() != cp.root:
                finding(ROOT_MISMATCH, None, None, archive.checkpoint_key(counter), "idle checkpoint root")
            continue
        seg = cp.segment
        first, last = seg.first, seg.first + seg.count - 1
        if cp.frontier.size != seg.first:
            inconsistent.append(counter)
            finding(
                CONSISTENCY_FAILURE,
                first,
                last,
                archive.checkpoint_key(counter),
                "frontier does not end where the segment starts",
            )
            continue
        try:
            blob = store.get(f"{name}/{seg.key}")
        except FileNotFoundError:
            finding(SEGMENT_MISSING, first, last, seg.key, f"signed by checkpoint {counter}, not in the archive")
            continue
        if hashlib.sha256(blob).hexdigest() != seg.sha256:
            finding(SEGMENT_HASH_MISMATCH, first, last, seg.key, f"sha256 differs from checkpoint {counter}")
            continue
        if is_encrypted(blob) and cipher is None:
            report.segments_valid += 1  # bound by its signed SHA-256; leaves need the key
            report.segments_encrypted_unopened += 1
            continue
        try:
            lines = archive.decode_segment(blob, cipher, f"{name}/{seg.key}")
        except (RuntimeError, Rejected) as exc:
            finding(SEGMENT_CORRUPT, first, last, seg.key, f"cannot be read: {exc}")
            continue
        tree = cp.frontier.copy()
        for line in lines:
            tree.append(leaf_hash(line))
        if len(lines) != seg.count or tree.size != cp.size or tree.root() != cp.root:
            finding(ROOT_MISMATCH, first, last, seg.key, f"leaves do not give checkpoint {counter}'s root")
            continue
        report.segments_valid += 1
        report.events_verified += len(lines)
        report.logs[name] = report.logs.get(name, 0) + len(lines)
        read.add(f"{name}/{seg.key}")
        if keep_leaves:
            leaves.extend((first + i, line) for i, line in enumerate(lines))

    for rng in sorted(set(segment_files) - set(declared)):
        if missing_counters:
            finding(
                CHECKPOINT_MISSING,
                rng[0],
                rng[1],
                segment_files[rng],
                f"no checkpoint signs this segment (checkpoints {_ranges(missing_counters)} are missing)",
            )
        else:
            finding(SEGMENT_UNSIGNED, rng[0], rng[1], segment_files[rng], "no checkpoint signs this segment")
    if missing_counters and not (set(segment_files) - set(declared)):
        # Segment and checkpoint both gone: the checkpoints around the hole bound its leaves.
        for a, b in _runs(missing_counters):
            before, after = trusted.get(a - 1), trusted.get(b + 1)
            first = before.size if before is not None else (0 if a == 1 else None)
            last = after.frontier.size - 1 if after is not None else None
            if first is not None and last is not None and last < first:
                first = last = None  # only idle checkpoints were lost: no events
            finding(
                CHECKPOINT_MISSING,
                first,
                last,
                "checkpoints/",
                f"checkpoints {_ranges(list(range(a, b + 1)))} are missing"
                + (f" with leaves {first}-{last}" if first is not None and last is not None else ""),
            )

    compare_state(name, trusted, parsed, segment_files, report, finding, min(inconsistent, default=None))
    return found, SealedLog(name, leaves, bool(trusted), finding)


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    """Sorted numbers as (first, last) runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


def _ranges(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers[:10]) + ("..." if len(numbers) > 10 else "")
