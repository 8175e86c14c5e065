"""What the agent does with a collector's answer to a batch (pure): ``classify``.

=========================  ============  ===============================================
answer                     decision      why
=========================  ============  ===============================================
no answer (network, TLS,   failover      this collector is unreachable: try the next
timeout)
200, ``acked_seq`` ≥ last  ack           stored; the answer may list events refused alone
200, ``acked_seq`` < last  retry         the collector did not take all of it: resend
200, not a valid answer    failover      a collector that answers garbage is broken
400, 403, 413, 422         dead_letter   resending cannot fix it: keep it aside, go on
503, 429, 408, other 4xx   retry         busy or momentarily refusing: same collector
other 5xx                  failover      this collector is failing: try the next
=========================  ============  ===============================================
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

PERMANENT = frozenset({400, 403, 413, 422})
ACK, RETRY, DEAD_LETTER, FAILOVER = "ack", "retry", "dead_letter", "failover"


@dataclass(frozen=True)
class Decision:
    action: str
    acked_seq: int | None = None
    rejected: tuple = ()  # events refused alone: ({"seq", "reason", "error"}, ...)
    reason: str = ""
    pipelining: bool = False  # the collector holds a batch until the one it follows is stored


def classify(status: int | None, body: bytes, last_seq: int) -> Decision:
    """``status`` None: no answer came (``body``: what the connection said, if anything)."""
    if status is None:
        return Decision(FAILOVER, reason=body.decode("utf-8", "replace") or "no answer")
    if status == 200:
        try:
            answer = orjson.loads(body)
            acked = int(answer["acked_seq"])
            rejected = tuple(answer.get("rejected") or ())
            pipelining = answer.get("pipelining") is True
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return Decision(FAILOVER, reason=f"not a valid answer: {body[:200].decode('utf-8', 'replace')}")
        if acked >= last_seq:
            return Decision(ACK, acked, rejected, pipelining=pipelining)
        return Decision(RETRY, reason=f"acknowledged through {acked}, the batch ends at {last_seq}")
    reason = error_text(body)
    if status in PERMANENT:
        return Decision(DEAD_LETTER, reason=reason)
    if status >= 500 and status != 503:
        return Decision(FAILOVER, reason=reason)
    return Decision(RETRY, reason=reason)


def error_text(body: bytes) -> str:
    try:
        return str(orjson.loads(body).get("error", ""))[:500]
    except (orjson.JSONDecodeError, AttributeError):
        return body[:200].decode("utf-8", "replace")
