"""Strict YAML configuration: unknown keys and bad types are errors naming file, line and key.

Models derive from ``StrictModel`` (pydantic, ``extra="forbid"``). Loading composes the YAML
node tree first so every key path keeps its line number for error messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _construct(node: yaml.Node, path: tuple, lines: dict[tuple, int], file: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in out:
                raise ConfigError(file, key_node.start_mark.line + 1, ".".join(map(str, path + (key,))),
                                  "duplicate key")
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, path + (key,), lines, file)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, path + (i,), lines, file) for i, item in enumerate(node.value)]
    # Scalars: let the safe loader resolve ints, bools, nulls with YAML 1.1 rules.
    return yaml.SafeLoader(yaml.dump(None)).construct_object(node, deep=True)


def parse_yaml(text: str, file: str) -> tuple[Any, dict[tuple, int]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(file, line, "(syntax)", str(getattr(exc, "problem", exc))) from exc
    lines: dict[tuple, int] = {}
    if root is None:
        return {}, lines
    return _construct(root, (), lines, file), lines


def _line_for(loc: tuple, lines: dict[tuple, int]) -> int | None:
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def _data_path(data: Any, loc: tuple) -> tuple:
    """The error location as a path in the data: drops union tags pydantic adds to ``loc``."""
    path: list = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif isinstance(node, dict) and node.get("type") == part:
            continue  # pydantic names the union member chosen by ``type``: not a key
        else:
            node = None  # a missing or unknown key: keep it and stop walking
        path.append(part)
    return tuple(path)


def validate(model: type[M], data: Any, lines: dict[tuple, int], file: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # Unknown keys first: a misspelt key usually also causes a "Field required".
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        first = errors[0]
        loc = _data_path(data, first["loc"])
        key = ".".join(str(part) for part in loc) or "(top level)"
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        more = len(errors) - 1
        if more:
            message += f" (and {more} more error{'s' if more > 1 else ''})"
        raise ConfigError(file, _line_for(loc, lines), key, message) from None


def load_config(model: type[M], path: str | Path) -> M:
    """Read, parse and validate a YAML config file; relative paths in it stay as written."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(file, None, "(file)", f"cannot read: {exc.strerror}") from exc
    data, lines = parse_yaml(text, file)
    return validate(model, data, lines, file)
