"""Channels by the ``type`` their config names: type → (config model, class)."""

from __future__ import annotations

from .base import Channel
from .pagerduty import PagerDuty, PagerDutyConfig
from .slack import Slack, SlackConfig
from .webhook import Webhook, WebhookConfig

CHANNELS: dict[str, tuple[type, type]] = {
    "webhook": (WebhookConfig, Webhook),
    "slack": (SlackConfig, Slack),
    "pagerduty": (PagerDutyConfig, PagerDuty),
}


def build(name: str, cfg) -> Channel:
    model, cls = CHANNELS[cfg.type]
    assert isinstance(cfg, model)
    return cls(name, cfg)
