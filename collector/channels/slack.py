"""Slack incoming webhook: one message per alert. The webhook URL is itself the secret, so it
is read from ``url_file`` and never shown."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import orjson
from pydantic import Field

from auditseal.errors import Halt

from .base import Request, read_secret
from .common import ChannelCommon

ICON = {"low": ":information_source:", "medium": ":warning:", "high": ":rotating_light:", "critical": ":fire:"}


class SlackConfig(ChannelCommon):
    type: Literal["slack"]
    url_file: Path = Field(description="file holding the incoming-webhook URL (https://hooks.slack.com/...)")


def escape(text: str) -> str:
    """Slack's mrkdwn control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def body(alert: dict) -> bytes:
    d = alert["details"]
    severity = d.get("severity", "medium")
    title = f"{ICON.get(severity, '')} [{severity}] {escape(alert['rule'])} — tenant {escape(alert['tenant'])}"
    text = f"{title}\n{escape(alert['summary'][:2000])}"
    fields = [
        {"type": "mrkdwn", "text": f"*Alert id*\n`{alert['alert_id']}`"},
        {"type": "mrkdwn", "text": f"*When*\n{alert['created']}"},
    ]
    if d.get("group"):
        fields.append({"type": "mrkdwn", "text": f"*Group*\n{escape(', '.join(map(str, d['group'])))[:500]}"})
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}, {"type": "section", "fields": fields}]
    return orjson.dumps({"text": text, "blocks": blocks})


class Slack:
    type = "slack"

    def __init__(self, name: str, cfg: SlackConfig):
        self.name = name
        self.timeout = cfg.timeout
        self._url = read_secret(cfg.url_file, "Slack webhook URL")
        if not self._url.startswith(("https://", "http://")):
            raise Halt(f"{cfg.url_file}: not an http(s) URL")

    def request(self, alert: dict, now: float) -> Request:
        return Request(self._url, body(alert), {"content-type": "application/json"})
