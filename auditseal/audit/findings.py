"""What ``auditseal verify`` reports: stable finding codes, one finding, the report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import orjson

# Finding codes (stable: scripts and alerts match on them).
SEGMENT_HASH_MISMATCH = "SEGMENT_HASH_MISMATCH"
SEGMENT_CORRUPT = "SEGMENT_CORRUPT"
SEGMENT_MISSING = "SEGMENT_MISSING"
SEGMENT_UNSIGNED = "SEGMENT_UNSIGNED"
ROOT_MISMATCH = "ROOT_MISMATCH"
CHECKPOINT_SIGNATURE_INVALID = "CHECKPOINT_SIGNATURE_INVALID"
CHECKPOINT_KEY_UNKNOWN = "CHECKPOINT_KEY_UNKNOWN"
CHECKPOINT_MALFORMED = "CHECKPOINT_MALFORMED"
CHECKPOINT_MISSING = "CHECKPOINT_MISSING"
CHECKPOINT_MISPLACED = "CHECKPOINT_MISPLACED"
CHECKPOINT_ORIGIN_MISMATCH = "CHECKPOINT_ORIGIN_MISMATCH"
CONSISTENCY_FAILURE = "CONSISTENCY_FAILURE"
TRUNCATION = "TRUNCATION"
LOG_MISSING = "LOG_MISSING"
UNKNOWN_OBJECT = "UNKNOWN_OBJECT"
ROLLBACK = "ROLLBACK"
FORK = "FORK"
OBJECT_DELETE_MARKER = "OBJECT_DELETE_MARKER"
OBJECT_OVERWRITTEN = "OBJECT_OVERWRITTEN"


@dataclass(frozen=True)
class Finding:
    code: str
    log: str
    first: int | None
    last: int | None
    object: str
    detail: str

    def line(self) -> str:
        leaves = f"leaves {self.first}-{self.last}" if self.first is not None else "leaves ?"
        return f"{self.code} {self.log} {leaves} {self.object}: {self.detail}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    segments_total: int = 0
    segments_valid: int = 0
    events_verified: int = 0
    segments_encrypted_unopened: int = 0
    state: dict = field(default_factory=dict)
    logs: dict[str, int] = field(default_factory=dict)  # events verified per log (a partitioned tenant has several)

    @property
    def summary(self) -> str:
        return f"{self.segments_valid}/{self.segments_total} segments valid"

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "summary": self.summary,
                "segments_total": self.segments_total,
                "segments_valid": self.segments_valid,
                "events_verified": self.events_verified,
                "segments_encrypted_unopened": self.segments_encrypted_unopened,
                "logs": self.logs,
                "findings": [asdict(f) for f in self.findings],
            },
            option=orjson.OPT_INDENT_2,
        )
