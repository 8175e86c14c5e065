"""What every channel's config has: a timeout and its own retry policy."""

from __future__ import annotations

from pydantic import Field

from auditseal.config import StrictModel
from auditseal.rules.model import Duration

from .retry import RetryPolicy


class RetryConfig(StrictModel):
    initial: Duration = Field(1000, gt=0, description="first retry after about this long (jittered)")
    maximum: Duration = Field(300_000, gt=0, description="the backoff's ceiling")
    give_up_after: Duration = Field(86_400_000, gt=0, description="a delivery still failing then is dead-lettered")
    max_retry_after: Duration = Field(3_600_000, gt=0, description="a receiver's Retry-After is honoured up to this")

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            self.initial / 1000, self.maximum / 1000, self.give_up_after / 1000, self.max_retry_after / 1000
        )


class ChannelCommon(StrictModel):
    timeout: float = Field(10.0, gt=0, le=300, description="seconds for one attempt")
    retry: RetryConfig = RetryConfig()
