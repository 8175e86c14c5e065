"""How the ingest endpoint answers each refusal: one table, reason → HTTP status (and a
``Retry-After`` for the ones an agent should retry). An unlisted reason is a 400."""

from __future__ import annotations

STATUS = {
    # who is sending: the certificate, the key, the signature, the clock
    "bad_certificate": 401,
    "unknown_key": 401,
    "bad_mac": 401,
    "timestamp_skew": 401,
    "agent_mismatch": 403,
    "tenant_not_allowed": 403,
    # the request's shape and size
    "length_required": 411,
    "body_too_large": 413,
    "decompressed_too_large": 413,
    "too_many_events": 413,
    "bad_version": 400,
    "bad_headers": 400,
    "bad_encoding": 400,
    "bad_compression": 400,
    "bad_json": 400,
    "empty_batch": 400,
    "bad_sequence": 400,
    # the collector cannot take it now: the agent keeps the batch and retries
    "too_early": 409,  # sent behind a batch not stored yet (pipelining): resent after it
    "journal_full": 503,
    "journal_unavailable": 503,
    # the client went away mid-request
    "body_timeout": 408,
    "client_disconnected": 408,
}
RETRY_AFTER = {"journal_full": "10", "journal_unavailable": "5", "too_early": "1"}


def status_of(reason: str) -> int:
    return STATUS.get(reason, 400)


def headers_of(reason: str) -> dict[str, str] | None:
    after = RETRY_AFTER.get(reason)
    return {"Retry-After": after} if after else None
