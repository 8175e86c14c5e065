"""Token-bucket rate limits per credential (pure: the caller passes the time)."""

from __future__ import annotations

import math


class RateLimits:
    """``burst`` calls at once, then ``per_second``; one bucket per key (a principal's name, or
    ``addr:<ip>`` for refused credentials). Idle full buckets are forgotten, so the table stays
    small however many keys are tried."""

    def __init__(self, per_second: float, burst: int, max_keys: int = 100_000):
        self.rate, self.burst, self.max_keys = per_second, float(burst), max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, at)

    def take(self, key: str, now: float) -> float:
        """0 when the call may go on; else the seconds until it could (Retry-After)."""
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - at) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > self.max_keys:
                self._forget(now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate

    def _forget(self, now: float) -> None:
        full = [k for k, (t, at) in self._buckets.items() if t + (now - at) * self.rate >= self.burst]
        for k in full:
            del self._buckets[k]
        while len(self._buckets) > self.max_keys:  # all busy: drop the oldest
            del self._buckets[min(self._buckets, key=lambda k: self._buckets[k][1])]

    @staticmethod
    def retry_after(seconds: float) -> str:
        return str(max(1, math.ceil(seconds)))
