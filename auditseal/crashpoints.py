"""Test-only fault injection at named points of the agent and collector.

``AUDITSEAL_CRASHPOINTS="after_send:0.05,mid_append:0.01"`` makes the process die abruptly
(``os._exit``, no cleanup, like SIGKILL) when it passes a named point, with the given
probability. Unset — the normal case — every check is one dictionary lookup on an empty
dict. Used by the crash tests to hit moments a timed SIGKILL rarely lands on.
"""

from __future__ import annotations

import os
import random

EXIT_CODE = 137


def _parse(text: str) -> dict[str, float]:
    points = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, prob = part.partition(":")
        points[name] = float(prob or 1.0)
    return points


POINTS = _parse(os.environ.get("AUDITSEAL_CRASHPOINTS", ""))


def hit(name: str) -> None:
    probability = POINTS.get(name)
    if probability and random.random() < probability:
        os._exit(EXIT_CODE)


def torn_write(name: str, file, blob: bytes) -> None:
    """At ``name``, write only part of ``blob`` to disk, then die: a torn append."""
    probability = POINTS.get(name)
    if probability and random.random() < probability:
        file.write(blob[: random.randrange(1, max(len(blob), 2))])
        file.flush()
        os.fsync(file.fileno())
        os._exit(EXIT_CODE)
