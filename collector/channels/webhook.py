"""Generic webhook, signed per the Standard Webhooks scheme (standardwebhooks.com):

- ``webhook-id``: the alert id (the same on every attempt: receivers deduplicate on it);
- ``webhook-timestamp``: the attempt time, integer unix seconds;
- ``webhook-signature``: ``v1,`` + base64 HMAC-SHA256 over ``id.timestamp.body``, keyed with
  the secret (``whsec_`` + base64 of the key bytes, read from ``secret_file``).

The body is ``{"type": "alert.fired", "timestamp": <fired>, "data": <alert>}``, the same bytes
on every attempt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from pathlib import Path
from typing import Literal

import orjson
from pydantic import Field

from auditseal.errors import Halt

from .base import Request, read_secret
from .common import ChannelCommon


class WebhookConfig(ChannelCommon):
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://", description="where alerts are POSTed")
    secret_file: Path = Field(description="the signing secret, whsec_<base64> (Standard Webhooks)")


def decode_secret(text: str) -> bytes:
    raw = text[len("whsec_") :] if text.startswith("whsec_") else text
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not whsec_<base64>") from None
    if len(key) < 16:
        raise ValueError("the key is shorter than 16 bytes")
    return key


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def body(alert: dict) -> bytes:
    fired = alert["details"].get("fired") or alert["created"]
    return orjson.dumps({"type": "alert.fired", "timestamp": fired, "data": alert}, option=orjson.OPT_SORT_KEYS)


class Webhook:
    type = "webhook"

    def __init__(self, name: str, cfg: WebhookConfig):
        self.name = name
        self.url = cfg.url
        self.timeout = cfg.timeout
        try:
            self._key = decode_secret(read_secret(cfg.secret_file, "webhook signing secret"))
        except ValueError as exc:
            raise Halt(f"{cfg.secret_file}: the webhook signing secret is {exc}") from None

    def request(self, alert: dict, now: float) -> Request:
        data = body(alert)
        stamp = int(now)
        return Request(
            self.url,
            data,
            {
                "content-type": "application/json",
                "webhook-id": alert["alert_id"],
                "webhook-timestamp": str(stamp),
                "webhook-signature": signature(self._key, alert["alert_id"], stamp, data),
            },
        )
