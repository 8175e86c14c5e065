"""JSON line → ECS event (pure): the decisions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from auditseal import __version__
from auditseal.errors import Rejected
from auditseal.formats.ecs import VERSION as ecs_version
from auditseal.formats import storable
from auditseal.formats.event import expand_dotted, get_path, normalise_ts, set_path

from .json_loss import losses, losses_counted

# The application line itself must carry event.action and event.category; the agent
# fills in the rest and owns agent.*, event.sequence, event.id, event.created.


@dataclass(frozen=True)
class Source:
    tenant: str | None
    host_name: str


def apply_field_map(doc: dict, field_map: dict[str, str]) -> dict:
    """Move application fields to their ECS names: ``{"usr.login": "user.name"}``."""
    for src, dst in field_map.items():
        value = get_path(doc, src, _ABSENT)
        if value is _ABSENT:
            continue
        parent, _, leaf = src.rpartition(".")
        node = get_path(doc, parent) if parent else doc
        node.pop(leaf, None)
        set_path(doc, dst, value)
    return doc


_ABSENT = object()


def from_json_line(
    line: bytes,
    source: Source,
    created: str,
    field_map: dict[str, str] | None = None,
    keep_original: str = "lossy",
) -> dict:
    """Build the event for one JSON line, or raise ``Rejected`` with the reason.

    ``keep_original``: ``lossy`` keeps the line (``event.original``, or ``auditseal.original``
    when the application set its own) only when parsing loses something, and names what in
    ``auditseal.lossy``; ``always`` keeps every line; ``refuse`` refuses a lossy line."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise Rejected("bad_json", f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise Rejected("bad_json", f"not a JSON object but {type(doc).__name__}")
    # Before anything recursive touches it; a line with fewer brackets cannot nest that deep.
    if line.count(b"{") + line.count(b"[") > storable.MAX_DEPTH:
        storable.check_depth(doc)
    scanned = _plain_scan(doc) if not field_map and "auditseal" not in doc else None
    if scanned is not None:  # the usual line: nested keys, nothing to map or set aside
        storable.repair_scanned(doc, scanned)
        lost = losses_counted(line, scanned.fields, scanned.floats)
    else:
        doc, lost = _reshape(doc, line, field_map)
    if lost and keep_original == "refuse":
        raise Rejected("lossy_json", "parsing would change the line: " + "; ".join(lost[:5]))
    event = doc.get("event")
    if type(event) is not dict:
        raise Rejected("missing_field", "missing required field event.action")
    for key in ("action", "category"):
        if event.get(key) in (None, "", []):
            raise Rejected("missing_field", f"missing required field event.{key}")
    if isinstance(event["category"], str):
        event["category"] = [event["category"]]
    # Fields the agent owns: a line cannot set them.
    doc.pop("agent", None)
    for key in ("sequence", "id", "created", "ingested"):
        event.pop(key, None)
    if event.get("outcome") in (None, ""):
        event["outcome"] = "unknown"
    org = doc.get("organization")
    if type(org) is not dict:
        org = doc["organization"] = {}
    if org.get("id") in (None, ""):
        if not source.tenant:
            raise Rejected("missing_field", "missing organization.id and the input sets no tenant")
        org["id"] = source.tenant
    elif type(org["id"]) is not str:
        raise Rejected("bad_field", "organization.id must be a string")
    stamp = doc.get("@timestamp")
    doc["@timestamp"] = created if stamp in (None, "") else normalise_ts(stamp)
    host = doc.get("host")
    if type(host) is not dict:
        host = doc["host"] = {}
    host.setdefault("name", source.host_name)
    event["created"] = created
    if lost or keep_original == "always":
        text = line.decode("utf-8", "backslashreplace")
        if event.get("original") in (None, ""):
            event["original"] = text
        else:
            doc.setdefault("auditseal", {})["original"] = text
        if lost:
            doc.setdefault("auditseal", {})["lossy"] = lost
    storable.check_parsed_required(doc, timestamp_canonical=True)  # normalise_ts wrote it
    # Re-encoding never doubles a line (orjson escapes no more than JSON input had to), so only
    # a long line, or one with values moved aside or kept whole, needs its stored size measured.
    if len(line) * 3 + storable.STAMP_RESERVE > storable.MAX_EVENT_BYTES or "auditseal" in doc:
        storable.fits(doc)
    return doc


def _plain_scan(doc: dict) -> storable.Scan | None:
    """The storable scan of a line as it is, or None when it needs reshaping first (dotted
    keys) or is refused (the full path then says why, after reshaping)."""
    try:
        scanned = storable.scan(doc, allow_dots=True)
    except Rejected:
        return None
    return None if scanned.dotted else scanned


def _reshape(doc: dict, line: bytes, field_map: dict[str, str] | None) -> tuple[dict, list[str]]:
    """Dotted keys expanded, fields mapped, a line's own ``auditseal`` set aside, then the
    storable repair; with what parsing the line lost."""
    raw = doc
    doc = expand_dotted(doc)
    # Moves below change the fields: count the line's own first, unless it is the usual plain
    # line, counted by the repair walk later.
    lost = losses(line, raw) if doc is not raw or field_map or "auditseal" in doc else None
    if field_map:
        doc = apply_field_map(doc, field_map)
    # "auditseal" is the agent's and collector's own: a line's value is kept aside.
    own = doc.pop("auditseal", None)
    if own is not None:
        doc["auditseal"] = {
            "invalid": [{"field": "auditseal", "value": _json_text(own), "reason": "reserved for auditseal"}]
        }
    # Wrong-shaped open fields aside first, so the defaults below never overwrite a value.
    counted = storable.repair_counting(doc)
    return doc, losses_counted(line, *counted) if lost is None else lost


def _json_text(value) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer orjson cannot write back (past 64 bits)
        return str(value)


AGENT_TYPE = "auditseal"


def stamp(doc: dict, agent_id: str, sequence: int, event_id: str) -> None:
    """What the agent adds once the event has its place in the agent's stream: who shipped it
    (``agent.*``), its number and id, and, unless the line says, ``event.kind: event`` and the
    ECS version it follows."""
    doc["agent"] = {"id": agent_id, "type": AGENT_TYPE, "version": __version__}
    event = doc["event"]
    event["sequence"] = sequence
    event["id"] = event_id
    if "kind" not in event:
        event["kind"] = "event"
    ecs = doc.get("ecs")
    if type(ecs) is not dict:
        doc["ecs"] = {"version": ecs_version}
    elif "version" not in ecs:
        ecs["version"] = ecs_version
