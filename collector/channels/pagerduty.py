"""PagerDuty Events API v2: a ``trigger`` per alert, ``dedup_key`` = the alert id (PagerDuty
folds a resend into the same incident). The integration's routing key is read from
``routing_key_file``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import orjson
from pydantic import Field

from .base import Request, read_secret
from .common import ChannelCommon

SEVERITY = {"low": "info", "medium": "warning", "high": "error", "critical": "critical"}


class PagerDutyConfig(ChannelCommon):
    type: Literal["pagerduty"]
    routing_key_file: Path = Field(description="file holding the integration's routing key")
    url: str = Field("https://events.pagerduty.com/v2/enqueue", pattern=r"^https?://")


def body(alert: dict, routing_key: str) -> bytes:
    d = alert["details"]
    payload = {
        "summary": alert["summary"][:1024],
        "source": f"auditseal/{alert['tenant']}",
        "severity": SEVERITY.get(d.get("severity", "medium"), "warning"),
        "timestamp": alert["created"],
        "component": alert["tenant"],
        "group": alert["rule"],
        "class": d.get("kind", "alert"),
        "custom_details": {"alert_id": alert["alert_id"], **d},
    }
    event = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert["alert_id"],
        "payload": payload,
        "client": "auditseal",
    }
    return orjson.dumps(event)


class PagerDuty:
    type = "pagerduty"

    def __init__(self, name: str, cfg: PagerDutyConfig):
        self.name = name
        self.url = cfg.url
        self.timeout = cfg.timeout
        self._key = read_secret(cfg.routing_key_file, "PagerDuty routing key")

    def request(self, alert: dict, now: float) -> Request:
        return Request(self.url, body(alert, self._key), {"content-type": "application/json"})
