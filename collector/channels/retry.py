"""What a delivery attempt's answer means for that channel's delivery (pure).

- 2xx: delivered.
- 429, 408, 5xx, or no answer (connection refused, reset, timeout): tried again after a delay —
  the receiver's ``Retry-After`` when it sent one (seconds or an HTTP date; capped), else an
  exponential backoff with jitter (half fixed, half random: retries of many alerts spread out
  and never come back at once). Past ``give_up_after`` since the first attempt it is a dead
  letter instead.
- Any other status (a 4xx: the request itself is wrong, or a 3xx, never followed): a dead
  letter at once. Trying the same bytes again cannot help.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from typing import Literal

RETRIED = frozenset({408, 429})


@dataclass(frozen=True)
class RetryPolicy:
    initial: float = 1.0  # seconds before the first retry (before jitter)
    maximum: float = 300.0  # the backoff's ceiling
    give_up_after: float = 86_400.0  # since the first attempt: then a dead letter
    max_retry_after: float = 3600.0  # a receiver's Retry-After is honoured up to this


@dataclass(frozen=True)
class Decision:
    state: Literal["delivered", "pending", "dead"]
    next_at: float  # when to try again (pending); the attempt time otherwise
    reason: str


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now`` (delta-seconds or an HTTP date); None if absent
    or not understood."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(when.timestamp() - now, 0.0)


def backoff(attempts: int, policy: RetryPolicy, rand: float) -> float:
    """The delay after ``attempts`` failed attempts; ``rand`` uniform in [0, 1)."""
    ceiling = min(policy.maximum, policy.initial * 2 ** min(attempts - 1, 62))
    return ceiling / 2 + rand * ceiling / 2


def decide(
    status: int | None,
    retry_after: float | None,
    attempts: int,
    first_at: float,
    now: float,
    policy: RetryPolicy,
    rand: float,
) -> Decision:
    """``attempts`` counts this one; ``status`` None: no HTTP answer."""
    if status is not None and 200 <= status < 300:
        return Decision("delivered", now, f"HTTP {status}")
    retryable = status is None or status in RETRIED or 500 <= status < 600
    what = "no answer" if status is None else f"HTTP {status}"
    if not retryable:
        return Decision("dead", now, f"{what}: refused; not retried")
    if retry_after is not None:
        delay = min(max(retry_after, 0.0), policy.max_retry_after)
    else:
        delay = backoff(attempts, policy, rand)
    if now + delay - first_at > policy.give_up_after:
        return Decision("dead", now, f"{what}: gave up after {attempts} attempts")
    return Decision("pending", now + delay, f"{what}: retry in {delay:.1f}s")
