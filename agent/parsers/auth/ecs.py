"""Building ECS documents from the named groups of a message pattern (pure)."""

from __future__ import annotations

from .. import ip_text


def ecs_event(action, category, types, outcome, **fields) -> dict:
    """An ECS event skeleton; ``fields`` name nested paths with ``__`` (``user__name``)."""
    doc = {"event": {"kind": "event", "action": action, "category": category, "type": types, "outcome": outcome}}
    for path, value in fields.items():
        if value in (None, ""):
            continue
        node = doc
        parts = path.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return doc


def port(value):
    return int(value) if value and value.isdigit() and len(value) <= 5 else None


def source(address: str | None) -> dict:
    """``source.address``, and ``source.ip`` or ``source.domain`` by what it is."""
    if not address:
        return {}
    ip = ip_text(address)
    if ip is None:
        return {"source__address": address, "source__domain": address}
    return {"source__address": address, "source__ip": ip}
