"""Data streams, backing indices and the mapping checks of the Elasticsearch test server."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field


class Unsupported(Exception):
    pass


class MappingError(Exception):
    pass


@dataclass
class BackingIndex:
    name: str
    docs: dict[str, dict] = field(default_factory=dict)  # _id → source
    visible: set[str] = field(default_factory=set)  # refreshed ids


@dataclass
class DataStream:
    name: str
    template: str
    mapping: dict  # explicit properties (from the template)
    dynamic: dict[str, str] = field(default_factory=dict)  # dotted path → type picked on first sight
    indices: list[BackingIndex] = field(default_factory=list)

    @property
    def write_index(self) -> BackingIndex:
        return self.indices[-1]

    def rollover(self) -> BackingIndex:
        day = dt.datetime.now(dt.timezone.utc).strftime("%Y.%m.%d")
        index = BackingIndex(f".ds-{self.name}-{day}-{len(self.indices) + 1:06d}")
        self.indices.append(index)
        return index


def to_nanos(value) -> int:
    """A date as epoch nanoseconds (sort values: millis for ``date``, nanos for ``date_nanos``)."""
    if isinstance(value, bool):
        raise MappingError("a boolean is not a date")
    if isinstance(value, (int, float)):
        return int(value) * 1_000_000
    if isinstance(value, str):
        text = value.replace("Z", "+00:00")
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            raise MappingError(f"failed to parse date field [{value}]") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    raise MappingError(f"failed to parse date field [{value!r}]")


def _check_leaf(kind: str, path: str, value) -> None:
    if isinstance(value, dict):
        raise MappingError(f"failed to parse field [{path}] of type [{kind}]: found an object")
    if kind in ("keyword", "match_only_text", "text", "constant_keyword"):
        return
    if kind == "long":
        if isinstance(value, bool) or not (
            isinstance(value, int)
            or (isinstance(value, str) and value.lstrip("-").isdigit())
            or (isinstance(value, float) and value.is_integer())
        ):
            raise MappingError(f"failed to parse field [{path}] of type [long]: [{value}]")
    elif kind == "float":
        try:
            float(value)
        except (TypeError, ValueError):
            raise MappingError(f"failed to parse field [{path}] of type [float]: [{value}]") from None
    elif kind == "boolean":
        if value not in (True, False, "true", "false"):
            raise MappingError(f"failed to parse field [{path}] of type [boolean]: [{value}]")
    elif kind in ("date", "date_nanos"):
        to_nanos(value)
    elif kind == "ip":
        try:
            ipaddress.ip_address(str(value))
        except ValueError:
            raise MappingError(
                f"failed to parse field [{path}] of type [ip]: '{value}' is not an IP string literal."
            ) from None
    else:
        raise Unsupported(f"mapping type {kind}")


def _dynamic_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "float"
    return "keyword"  # strings_as_keyword (date_detection is off in auditseal's template)


def validate(stream: DataStream, doc: dict, ignored: list | None = None) -> dict[str, str]:
    """Check a document against the stream's mapping; returns new dynamic fields. Fields
    ignored as malformed are appended to ``ignored``."""
    added: dict[str, str] = {}

    def walk(node: dict, props: dict | None, prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            spec = (props or {}).get(key)
            values = value if isinstance(value, list) else [value]
            for item in values:
                if item is None:
                    continue
                if spec is not None and "properties" in spec:
                    if not isinstance(item, dict):
                        raise MappingError(
                            f"object mapping for [{path}] tried to parse field [{path}] as "
                            f"object, but found a concrete value"
                        )
                    walk(item, spec["properties"], path + ".")
                elif spec is not None:
                    try:
                        _check_leaf(spec.get("type", "object"), path, item)
                    except MappingError:
                        # ignore_malformed: the document is indexed without this field (kept in
                        # _source, listed in _ignored); an object is refused all the same.
                        if not spec.get("ignore_malformed") or isinstance(item, dict):
                            raise
                        ignored.append(path)
                elif isinstance(item, dict):
                    known = stream.dynamic.get(path) or added.get(path)
                    if known not in (None, "object"):
                        raise MappingError(f"failed to parse field [{path}] of type [{known}]: found an object")
                    added[path] = "object"
                    walk(item, None, path + ".")
                else:
                    known = stream.dynamic.get(path) or added.get(path)
                    if known == "object":
                        raise MappingError(
                            f"object mapping for [{path}] tried to parse field [{path}] as "
                            f"object, but found a concrete value"
                        )
                    if known is None:
                        added[path] = _dynamic_type(item)
                    else:
                        _check_leaf(known, path, item)

    if ignored is None:
        ignored = []
    walk(doc, stream.mapping, "")
    return added


def field_values(doc: dict, path: str) -> list:
    node = [doc]
    for part in path.split("."):
        nxt = []
        for n in node:
            if isinstance(n, dict) and part in n:
                v = n[part]
                nxt.extend(v if isinstance(v, list) else [v])
        node = nxt
    # Dotted keys as written (``{"event.id": ...}``) are the same field in Elasticsearch.
    if not node and path in doc:
        v = doc[path]
        node = v if isinstance(v, list) else [v]
    return node
