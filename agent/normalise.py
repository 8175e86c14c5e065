"""JSON line → ECS event (pure): the decisions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from auditseal.errors import Rejected
from auditseal.event import expand_dotted, get_path, normalise_ts, set_path

# Fields the application line itself must carry; the agent fills in the rest.
REQUIRED_IN_LINE = ("event.action", "event.category")
# Fields the agent owns: a line cannot set them.
AGENT_OWNED = ("agent", "event.sequence", "event.id", "event.created", "event.ingested")


@dataclass(frozen=True)
class Source:
    tenant: str | None
    host_name: str


def from_json_line(line: bytes, source: Source, created: str) -> dict:
    """Build the event for one JSON line, or raise ``Rejected`` with the reason."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise Rejected("bad_json", f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise Rejected("bad_json", f"not a JSON object but {type(doc).__name__}")
    doc = expand_dotted(doc)
    for field in REQUIRED_IN_LINE:
        if get_path(doc, field) in (None, "", []):
            raise Rejected("missing_field", f"missing required field {field}")
    category = get_path(doc, "event.category")
    if isinstance(category, str):
        set_path(doc, "event.category", [category])
    for field in AGENT_OWNED:
        parent, _, leaf = field.rpartition(".")
        node = get_path(doc, parent) if parent else doc
        if isinstance(node, dict):
            node.pop(leaf, None)
    if get_path(doc, "event.outcome") in (None, ""):
        set_path(doc, "event.outcome", "unknown")
    if get_path(doc, "organization.id") in (None, ""):
        if not source.tenant:
            raise Rejected("missing_field", "missing organization.id and the input sets no tenant")
        set_path(doc, "organization.id", source.tenant)
    if not isinstance(get_path(doc, "organization.id"), str):
        raise Rejected("bad_field", "organization.id must be a string")
    stamp = doc.get("@timestamp")
    doc["@timestamp"] = created if stamp in (None, "") else normalise_ts(stamp)
    if get_path(doc, "host.name") is None:
        set_path(doc, "host.name", source.host_name)
    set_path(doc, "event.created", created)
    return doc


def stamp(doc: dict, agent_id: str, sequence: int, event_id: str) -> None:
    """What the agent adds once the event has its place in the agent's stream."""
    doc["agent"] = {"id": agent_id}
    event = doc["event"]
    event["sequence"] = sequence
    event["id"] = event_id
