"""Retry delays: exponential backoff with full jitter, honouring ``Retry-After``."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0

    def delay(self, attempt: int, retry_after: float | None = None, rand: random.Random | None = None) -> float:
        """Delay before retry number ``attempt`` (1-based).

        Full jitter (uniform in [cap/2, cap]) spreads a fleet's retries; a server's
        ``Retry-After`` is a floor, never shortened by jitter.
        """
        cap = min(self.maximum, self.initial * self.factor ** max(attempt - 1, 0))
        r = (rand or random).uniform(cap / 2, cap)
        if retry_after is not None:
            return max(r, retry_after)
        return r


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # HTTP-date form: fall back to our own backoff
