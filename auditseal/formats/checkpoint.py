"""Checkpoints: the signed statement about one (tenant, partition) log after each seal.

Body (C2SP tlog-checkpoint: origin, size, base64 root; then auditseal extension lines)::

    <origin>
    <tree size>
    <base64 root hash>
    auditseal-checkpoint <counter> <UTC time>
    auditseal-segment <segment key> <sha256 hex of the segment file> <first leaf> <leaf count>
    auditseal-frontier <size before the segment> <base64 hash> ...

``counter`` numbers a log's checkpoints 1, 2, 3... so a missing or reordered one shows.
The frontier is the compact range of the tree before the segment: with it, one segment
verifies on its own (frontier + its leaves → the signed root), and successive checkpoints
chain (the frontier's root must equal the previous checkpoint's root). An idle checkpoint
(no new events, written at least hourly) has no segment line and its frontier is the whole
tree. Signed as a C2SP note with Ed25519 (``note``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from auditseal.formats.merkle import CompactRange


class CheckpointError(Exception):
    pass


@dataclass(frozen=True)
class SegmentRef:
    key: str
    sha256: str
    first: int
    count: int


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    counter: int
    time: str
    segment: SegmentRef | None
    frontier: CompactRange

    def text(self) -> str:
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root).decode(),
            f"auditseal-checkpoint {self.counter} {self.time}",
        ]
        if self.segment is not None:
            s = self.segment
            lines.append(f"auditseal-segment {s.key} {s.sha256} {s.first} {s.count}")
        lines.append(
            " ".join(
                [
                    "auditseal-frontier",
                    str(self.frontier.size),
                    *(base64.b64encode(h).decode() for h in self.frontier.hashes),
                ]
            )
        )
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> "Checkpoint":
        lines = text.rstrip("\n").split("\n")
        try:
            origin, size, root_b64 = lines[:3]
            fields = {line.split(" ", 1)[0]: line.split(" ")[1:] for line in lines[3:]}
            counter, time = fields["auditseal-checkpoint"]
            segment = None
            if "auditseal-segment" in fields:
                key, digest, first, count = fields["auditseal-segment"]
                segment = SegmentRef(key, digest, int(first), int(count))
            frontier_size, *hashes = fields["auditseal-frontier"]
            frontier = CompactRange(int(frontier_size), [base64.b64decode(h, validate=True) for h in hashes])
            checkpoint = cls(
                origin, int(size), base64.b64decode(root_b64, validate=True), int(counter), time, segment, frontier
            )
        except (ValueError, KeyError, binascii.Error) as exc:
            raise CheckpointError(f"malformed checkpoint: {exc}") from None
        if not frontier.valid() or len(checkpoint.root) != 32:
            raise CheckpointError("malformed checkpoint: bad frontier or root")
        return checkpoint
