"""The channel port: how an alert leaves the collector.

A channel turns an alert (``collector.alerts.Alert.to_json``) into one HTTP request
(``request``, pure: the same alert gives the same body on every attempt, so a receiver sees
identical deliveries with one id). The dispatcher sends it and decides what the answer means
(``retry.decide``); the channel itself decides nothing and keeps no state. Secrets (signing
keys, routing keys, secret URLs) live inside the channel and never leave it: not in logs, not
in errors, not in the admin API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from auditseal.errors import Halt


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Channel(Protocol):
    name: str
    type: str
    timeout: float

    def request(self, alert: dict, now: float) -> Request:
        """The HTTP POST for ``alert`` at attempt time ``now`` (unix seconds)."""


def read_secret(path: Path, what: str) -> str:
    """A secret from its file (first line, stripped); ``Halt`` names the file, never the secret."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise Halt(f"{path}: cannot read the {what}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise Halt(f"{path}: the {what} is not UTF-8 text") from None
    if not text:
        raise Halt(f"{path}: the {what} file is empty")
    return text.splitlines()[0].strip()
