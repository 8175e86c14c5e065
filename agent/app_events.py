"""Applications' audit events: the JSON Schema of their lines and ``check-events`` (pure core,
a thin command).

``agent/schema/application-event.schema.json`` fixes the ECS categorisation and the required
fields of each documented kind (``docs/application-events.md``: sign-in, MFA, authorization
failure, admin action, role and permission changes, API and encryption keys, feature flags,
account recovery) and the shapes of common ECS fields for any line; every line's
``event.category``/``event.type`` must be a pair ECS allows (``auditseal.formats.ecs``). A line is checked as the
agent reads it: dotted keys expanded and a string ``event.category``/``event.type`` read as a
one-element list; then it must also pass the agent's own refusals (``from_json_line``).
"""

from __future__ import annotations

import sys
from functools import lru_cache
from importlib import resources

import jsonschema
import orjson

from auditseal.errors import Rejected
from auditseal.formats import ecs
from auditseal.formats.event import expand_dotted

from .normalise import Source, from_json_line

SCHEMA_FILE = "application-event.schema.json"


@lru_cache(maxsize=1)
def validator() -> jsonschema.protocols.Validator:
    # This package's own schema folder, whichever name it is installed under (auditseal_agent).
    schema = orjson.loads(resources.files(__package__).joinpath("schema", SCHEMA_FILE).read_bytes())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def problems(line: bytes) -> tuple[list[str], list[str]]:
    """(errors, warnings) of one line; no errors means the agent ships it as the schema says."""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return [f"not JSON: {exc}"], []
    if not isinstance(raw, dict):
        return [f"not a JSON object but {type(raw).__name__}"], []
    doc = expand_dotted(raw)
    event = doc.get("event")
    if isinstance(event, dict):
        for key in ("category", "type"):
            if isinstance(event.get(key), str):
                event[key] = [event[key]]
    errors = [_describe(e) for e in sorted(validator().iter_errors(doc), key=lambda e: list(e.absolute_path))]
    if isinstance(event, dict) and isinstance(event.get("category"), list):
        types = event.get("type") if isinstance(event.get("type"), list) else []
        categories = [c for c in event["category"] if isinstance(c, str)]
        errors += [f"{p} (ECS {ecs.VERSION})" for p in ecs.categorisation_problems(categories, types)]
    warnings: list[str] = []
    try:
        shipped = from_json_line(line, Source("check-events", "check-events"), "2026-01-01T00:00:00.000000Z")
    except Rejected as exc:
        errors.append(f"the agent refuses it ({exc.reason}): {exc}")
    else:
        for reason in shipped.get("auditseal", {}).get("lossy", []):
            warnings.append(f"kept whole in event.original: {reason}")
        for moved in shipped.get("auditseal", {}).get("invalid", []):
            warnings.append(f"{moved['field']} moved to auditseal.invalid: {moved['reason']}")
    return errors, warnings


def _describe(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "the line"
    if error.validator == "const":
        return f"{where}: must be {error.validator_value!r} for this event.action, not {error.instance!r}"
    if error.validator == "enum" and "outcome" in error.absolute_path:
        return f"{where}: must be one of {error.validator_value!r} for this event.action, not {error.instance!r}"
    return f"{where}: {error.message}"


def check_files(paths: list[str], out=sys.stdout) -> int:
    """Print ``FILE:LINE: reason`` for each line that fails; 0 when none does, 1 otherwise,
    2 when a file cannot be read."""
    bad = total = 0
    for path in paths:
        try:
            handle = open(path, "rb")
        except OSError as exc:
            print(f"check-events: {path}: {exc.strerror}", file=sys.stderr)
            return 2
        with handle:
            for number, line in enumerate(handle, 1):
                line = line.rstrip(b"\r\n")
                if not line.strip():
                    continue
                total += 1
                errors, warnings = problems(line)
                for text in errors:
                    print(f"{path}:{number}: {text}", file=out)
                for text in warnings:
                    print(f"{path}:{number}: warning: {text}", file=out)
                bad += bool(errors)
    print(f"check-events: {total} line(s), {total - bad} valid, {bad} invalid", file=sys.stderr)
    return 1 if bad else 0
