"""Wire protocol v1, agent → collector (DESIGN.md section 5).

``POST /v1/batches`` over mutually authenticated TLS.

Body: one lz4 frame holding NDJSON, one canonical event per line, each line ending
in ``\\n``; ``Content-Encoding: lz4``.

Headers::

    Auditseal-Version:   1
    Auditseal-Agent:     <agent id, must equal the certificate's>
    Auditseal-Key-Id:    <id of the HMAC key used>
    Auditseal-Timestamp: <unix seconds, integer>
    Auditseal-Batch:     <first_seq>-<last_seq>
    Auditseal-Gaps:      <first>-<last>[,<first>-<last>...]   (optional)
    Auditseal-Follows:   <last_seq of the batch sent before this one>  (optional)
    Auditseal-Signature: v1=<hex HMAC-SHA256>

``Auditseal-Gaps`` declares sequence ranges the agent lost (a corrupt or deleted spool
segment) before this batch, so the collector records a declared ``sequence_gap`` rather
than an unexplained one.

``Auditseal-Follows`` is set on a batch sent while the one before it is still unanswered
(pipelining): the collector stores the batch only once its agent's events through that
sequence are stored, and otherwise refuses it (409 ``too_early``, nothing stored), so
batches that overtake each other on separate connections can never be stored out of order
(which would record a gap and then drop the late batch as duplicates). A collector says
``"pipelining": true`` in its answers; an agent pipelines only to a collector that did.

The MAC covers these fields joined by ``\\n``::

    METHOD, PATH, agent, key id, timestamp, batch, gaps (empty if none), hex(sha256(body))

and, on a batch with ``Auditseal-Follows``, one more field after them: ``follows=<seq>``.
A collector that does not know the header computes the MAC without it and refuses the batch
(401), so it cannot store a pipelined batch out of order either.

Answers: 200 ``{"accepted", "duplicates", "acked_seq", "rejected", "pipelining"}``; 400
malformed; 401 bad certificate, MAC or timestamp; 403 tenant or agent not allowed; 409 too
early (the batch it follows is not stored yet); 413 too large; 429/503 with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Mapping

import lz4.frame
import orjson

from auditseal.errors import Rejected

VERSION = "1"
PATH = "/v1/batches"
# ``auditseal-agent test output``: signed and checked like a batch (certificate, key, MAC, clock,
# tenants), never stored. The path is part of the signature, so a test cannot pass as a batch.
TEST_PATH = "/v1/batches/test"
H_VERSION = "Auditseal-Version"
H_AGENT = "Auditseal-Agent"
H_KEY_ID = "Auditseal-Key-Id"
H_TIMESTAMP = "Auditseal-Timestamp"
H_BATCH = "Auditseal-Batch"
H_SIGNATURE = "Auditseal-Signature"
H_GAPS = "Auditseal-Gaps"
H_FOLLOWS = "Auditseal-Follows"
SIG_PREFIX = "v1="


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 8 * 1024 * 1024
    max_decompressed_bytes: int = 64 * 1024 * 1024
    max_ratio: int = 100
    # A body that decompresses to no more than this is never a bomb, whatever its ratio: an
    # agent's largest batch (8 MiB) of very repetitive lines must not be refused as one.
    ratio_floor_bytes: int = 9 * 1024 * 1024
    max_events: int = 50_000
    max_event_bytes: int = 256 * 1024
    max_skew_seconds: int = 300


@dataclass(frozen=True)
class BatchHeader:
    agent: str
    key_id: str
    timestamp: int
    first_seq: int
    last_seq: int
    signature: str
    gaps: tuple[tuple[int, int], ...] = ()
    follows: int | None = None  # the last sequence of the batch this one was sent behind

    @property
    def gaps_text(self) -> str:
        return format_gaps(self.gaps)

    @property
    def batch(self) -> str:
        return f"{self.first_seq}-{self.last_seq}"


def format_gaps(gaps) -> str:
    return ",".join(f"{a}-{b}" for a, b in gaps)


def parse_gaps(text: str) -> tuple[tuple[int, int], ...]:
    gaps = []
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        a, b = int(first), int(last)
        if a < 1 or b < a:
            raise ValueError(part)
        gaps.append((a, b))
    return tuple(gaps)


def signing_string(
    method: str,
    path: str,
    agent: str,
    key_id: str,
    timestamp: int,
    batch: str,
    body: bytes,
    gaps: str = "",
    follows: int | None = None,
) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    fields = [method.upper(), path, agent, key_id, str(timestamp), batch, gaps, digest]
    if follows is not None:  # only then: batches without it sign as they always have
        fields.append(f"follows={follows}")
    return "\n".join(fields).encode()


def sign(key: bytes, message: bytes) -> str:
    return SIG_PREFIX + hmac.new(key, message, hashlib.sha256).hexdigest()


def encode_body(lines: list[bytes]) -> bytes:
    """Compress canonical event lines into one lz4 frame of NDJSON."""
    return lz4.frame.compress(b"\n".join([*lines, b""]))  # one copy of the batch, not two


def build_headers(
    *,
    agent: str,
    key_id: str,
    key: bytes,
    timestamp: int,
    first_seq: int,
    last_seq: int,
    body: bytes,
    gaps=(),
    path: str = PATH,
    follows: int | None = None,
) -> dict[str, str]:
    batch = f"{first_seq}-{last_seq}"
    gaps_text = format_gaps(gaps)
    mac = sign(key, signing_string("POST", path, agent, key_id, timestamp, batch, body, gaps_text, follows))
    extra = {H_GAPS: gaps_text} if gaps_text else {}
    if follows is not None:
        extra[H_FOLLOWS] = str(follows)
    return {
        **extra,
        H_VERSION: VERSION,
        H_AGENT: agent,
        H_KEY_ID: key_id,
        H_TIMESTAMP: str(timestamp),
        H_BATCH: batch,
        H_SIGNATURE: mac,
        "Content-Encoding": "lz4",
        "Content-Type": "application/x-ndjson",
    }


def parse_headers(headers: Mapping[str, str]) -> BatchHeader:
    """Read the protocol headers; anything missing or malformed is a 400."""
    version = headers.get(H_VERSION, VERSION)
    if version != VERSION:
        raise Rejected("bad_version", f"unsupported protocol version {version!r}")
    missing = [h for h in (H_AGENT, H_KEY_ID, H_TIMESTAMP, H_BATCH, H_SIGNATURE) if not headers.get(h)]
    if missing:
        raise Rejected("bad_headers", f"missing headers: {', '.join(missing)}")
    if headers.get("Content-Encoding", "").lower() != "lz4":
        raise Rejected("bad_encoding", "Content-Encoding must be lz4")
    try:
        timestamp = int(headers[H_TIMESTAMP])
        first, _, last = headers[H_BATCH].partition("-")
        first_seq, last_seq = int(first), int(last)
        gaps = parse_gaps(headers.get(H_GAPS, ""))
        follows_text = headers.get(H_FOLLOWS)
        # Plain ASCII digits only: int() would take "+4", "0_4", " 4" or other scripts' digits.
        if follows_text is not None and not (follows_text.isascii() and follows_text.isdigit()):
            raise ValueError(follows_text)
        follows = None if follows_text is None else int(follows_text)
    except ValueError as exc:
        raise Rejected("bad_headers", f"malformed {H_TIMESTAMP}, {H_BATCH}, {H_GAPS} or {H_FOLLOWS}") from exc
    if first_seq < 1 or last_seq < first_seq:
        raise Rejected("bad_headers", f"bad batch range {headers[H_BATCH]!r}")
    if follows is not None and not 1 <= follows < first_seq:
        raise Rejected("bad_headers", f"{H_FOLLOWS} {follows} is not a sequence before the batch {headers[H_BATCH]!r}")
    return BatchHeader(
        headers[H_AGENT], headers[H_KEY_ID], timestamp, first_seq, last_seq, headers[H_SIGNATURE], gaps, follows
    )


def verify_signature(key: bytes, header: BatchHeader, body: bytes, path: str = PATH) -> None:
    expected = sign(
        key,
        signing_string(
            "POST",
            path,
            header.agent,
            header.key_id,
            header.timestamp,
            header.batch,
            body,
            header.gaps_text,
            header.follows,
        ),
    )
    if not hmac.compare_digest(expected, header.signature):
        raise Rejected("bad_mac", "signature does not match the batch")


def check_skew(header: BatchHeader, now: float, limits: Limits) -> None:
    if abs(now - header.timestamp) > limits.max_skew_seconds:
        raise Rejected("timestamp_skew", f"timestamp {header.timestamp} outside the ±{limits.max_skew_seconds}s window")


def decompress(body: bytes, limits: Limits) -> bytes:
    """Decompress with a cap of min(max_decompressed, max(ratio × compressed size, ratio floor)):
    no lz4 bombs."""
    cap = min(limits.max_decompressed_bytes, max(max(len(body), 1) * limits.max_ratio, limits.ratio_floor_bytes))
    decompressor = lz4.frame.LZ4FrameDecompressor()
    try:
        out = decompressor.decompress(body, max_length=cap + 1)
    except RuntimeError as exc:
        raise Rejected("bad_compression", f"body is not a valid lz4 frame: {exc}") from exc
    if len(out) > cap:
        raise Rejected("decompressed_too_large", f"body decompresses past {cap} bytes (ratio cap {limits.max_ratio})")
    if not decompressor.eof:
        raise Rejected("bad_compression", "lz4 frame is truncated")
    return out


def split_events(ndjson: bytes, limits: Limits) -> tuple[list[bytes], list[dict]]:
    """Parse NDJSON into (raw lines, event documents), enforcing event and batch limits."""
    lines = ndjson.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) > limits.max_events:
        raise Rejected("too_many_events", f"{len(lines)} events > limit {limits.max_events}")
    events = []
    for number, line in enumerate(lines, 1):
        # An event past max_event_bytes is parsed still: admission refuses it alone.
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise Rejected("bad_json", f"event {number}: not JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise Rejected("bad_json", f"event {number}: not a JSON object")
        events.append(doc)
    return lines, events
