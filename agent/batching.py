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

    def ready(self, events: int, size: int, next_size: int | None = None) -> bool:
        """Full, or the next waiting event (``next_size``) cannot join: waiting for the age
        bound would only idle, since nothing smaller can arrive before that event."""
        return events > 0 and (
            self.full(events, size) or (next_size is not None and not self.fits(events, size, next_size))
        )

    def due_in(self, events: int, size: int, oldest_age: float, next_size: int | None = None) -> float | None:
        """Seconds until the batch must go; 0 = now; None = empty batch, nothing due."""
        if events == 0:
            return None
        if self.ready(events, size, next_size):
            return 0.0
        return max(self.max_age - oldest_age, 0.0)
