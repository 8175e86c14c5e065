"""When a batch is ready to ship (count, bytes or age, whichever comes first)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchPolicy:
    max_events: int
    max_bytes: int
    max_age: float

    def full(self, events: int, size: int) -> bool:
        return events >= self.max_events or size >= self.max_bytes

    def fits(self, events: int, size: int, next_size: int) -> bool:
        """Whether one more event of ``next_size`` bytes may join (a batch always takes one)."""
        return events == 0 or (events < self.max_events and size + next_size <= self.max_bytes)

    def due_in(self, events: int, size: int, oldest_age: float) -> float | None:
        """Seconds until the batch must go; 0 = now; None = empty batch, nothing due."""
        if events == 0:
            return None
        if self.full(events, size):
            return 0.0
        return max(self.max_age - oldest_age, 0.0)
