"""The ECS version auditseal's events follow, and ECS's categorisation rules (pure data).

``ALLOWED`` is ECS's "expected event types" table: the ``event.type`` values each
``event.category`` allows. The parsers' tables are checked against it
(tests/test_parsers_ecs.py), and ``auditseal-agent check-events`` applies it to applications'
lines.
"""

from __future__ import annotations

VERSION = "8.11.0"  # the ECS release the mappings, parsers and this table follow

KINDS = frozenset({"alert", "asset", "enrichment", "event", "metric", "state", "pipeline_error", "signal"})
OUTCOMES = frozenset({"success", "failure", "unknown"})
ALLOWED: dict[str, frozenset[str]] = {
    category: frozenset(types.split())
    for category, types in {
        "api": "access admin allowed change creation deletion denied end info start user",
        "authentication": "start end info",
        "configuration": "access change creation deletion info",
        "database": "access change info error",
        "driver": "change end info start",
        "email": "info",
        "file": "access change creation deletion info",
        "host": "access change end info start",
        "iam": "admin change creation deletion group info user",
        "intrusion_detection": "allowed denied info",
        "library": "start",
        "malware": "info",
        "network": "access allowed connection denied end info protocol start",
        "package": "access change deletion info installation start",
        "process": "access change end info start",
        "registry": "access change creation deletion",
        "session": "start end info",
        "threat": "indicator",
        "vulnerability": "info",
        "web": "access error info",
    }.items()
}


def categorisation_problems(categories: list, types: list | None) -> list[str]:
    """Why (``event.category``, ``event.type``) is not what ECS allows; [] when it is."""
    problems = [f"event.category {c!r} is not an ECS category" for c in categories if c not in ALLOWED]
    known = [c for c in categories if c in ALLOWED]
    for t in types or []:
        if known and not any(t in ALLOWED[c] for c in known):
            problems.append(f"event.type {t!r} is not allowed with event.category {', '.join(known)}")
    return problems
