"""Strict YAML configuration: unknown keys and bad types are errors naming file, line and key.

Models derive from ``StrictModel`` (pydantic, ``extra="forbid"``). Loading composes the YAML
node tree first so every key path keeps its line number for error messages.

Values may name environment variables, as Filebeat's and Vector's configs do: ``${VAR}``, and
``${VAR:-default}`` for a default when it is unset or empty; ``$${`` writes a literal ``${``. An
unset variable without a default is an error at its line. YAML merge keys (``<<: *base``) are
supported; keys written beside them win.

A config directory (``--config-dir``, as Vector's) adds drop-in files: every ``*.yaml``/``*.yml``
in it, in name order, merged into the main file. Mappings merge key by key; a list a program
declares appendable (the agent's ``inputs``) grows; any other key set twice is an error naming
both places, so no file silently overrides another.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from auditseal.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


MAX_NODES = 100_000  # after alias expansion: a config is small; a "billion laughs" is not
MAX_DEPTH = 64
# The only tags a config may carry: YAML's own (what the safe loader resolves).
SAFE_TAGS = frozenset(
    {
        "tag:yaml.org,2002:" + t
        for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary", "merge")
    }
)


VARIABLE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
MERGE_TAG = "tag:yaml.org,2002:merge"


def interpolate(text: str, environ=os.environ) -> str:
    """``text`` with ``${VAR}`` and ``${VAR:-default}`` replaced; ``KeyError(VAR)`` when unset."""

    def one(m: re.Match) -> str:
        if m.group(0) == "$${":
            return "${"
        value = environ.get(m.group(1))
        if value in (None, "") and m.group(2) is not None:
            return m.group(2)
        if value is None:
            raise KeyError(m.group(1))
        return value

    return VARIABLE.sub(one, text)


class _Builder:
    """Node tree → plain data, keeping each key path's line; bounded in size and depth."""

    def __init__(self, file: str):
        self.file = file
        self.lines: dict[tuple, int] = {}
        self.nodes = 0
        self._scalars = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, path: tuple, reason: str):
        return ConfigError(self.file, node.start_mark.line + 1, ".".join(map(str, path)) or "(top level)", reason)

    def build(self, node: yaml.Node, path: tuple = ()) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(node, path, f"more than {MAX_NODES} values (alias expansion?)")
        if len(path) > MAX_DEPTH:
            raise self.fail(node, path, f"nested deeper than {MAX_DEPTH} levels (a recursive alias?)")
        if node.tag not in SAFE_TAGS:
            raise self.fail(node, path, f"tag {node.tag!r} is not allowed in a config")
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            merged: list[dict] = []
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag == MERGE_TAG:
                    merged.extend(self._merge_sources(value_node, path))
                    continue
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                    raise self.fail(key_node, path, "keys must be plain strings")
                key = key_node.value
                if key in out:
                    raise self.fail(key_node, path + (key,), "duplicate key")
                self.lines[path + (key,)] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, path + (key,))
            for source in merged:  # keys written here win over merged ones, earlier merges over later
                for key, value in source.items():
                    out.setdefault(key, value)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        if "$" in node.value and node.tag == "tag:yaml.org,2002:str":
            try:
                return interpolate(node.value)
            except KeyError as exc:
                raise self.fail(
                    node, path, f"environment variable {exc.args[0]} is not set (or write ${{VAR:-default}})"
                ) from None
        # Scalars: the safe loader resolves ints, bools, nulls with YAML 1.1 rules.
        try:
            return self._scalars.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            raise self.fail(node, path, f"bad value: {exc}") from None

    def _merge_sources(self, node: yaml.Node, path: tuple) -> list[dict]:
        """The mappings a ``<<`` key merges: one mapping, or a list of them."""
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        sources = []
        for item in items:
            if not isinstance(item, yaml.MappingNode):
                raise self.fail(item, path + ("<<",), "a merge key (<<) takes a mapping or a list of mappings")
            sources.append(self.build(item, path))
        return sources


def parse_yaml(text: str, file: str) -> tuple[Any, dict[tuple, int]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(file, line, "(syntax)", str(getattr(exc, "problem", exc))) from exc
    if root is None:
        return {}, {}
    builder = _Builder(file)
    try:
        data = builder.build(root)
    except RecursionError:
        raise ConfigError(file, None, "(syntax)", "nested too deeply") from None
    if not isinstance(data, dict):
        raise ConfigError(file, root.start_mark.line + 1, "(top level)", "must be a mapping of keys")
    return data, builder.lines


def line_of(path: str | Path, key: tuple) -> int | None:
    """The line of a dotted key in a config file (for errors found after validation)."""
    try:
        _, lines = parse_yaml(Path(path).read_text(encoding="utf-8"), str(path))
    except (ConfigError, OSError, UnicodeDecodeError):
        return None
    return _line_for(key, lines)


def _line_for(loc: tuple, lines: dict[tuple, Any]) -> Any:
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
        elif isinstance(node, dict) and part in (node.get("type"), node.get("kind")):
            continue  # pydantic names the union member chosen by ``type``/``kind``: not a key
        else:
            node = None  # a missing or unknown key: keep it and stop walking
        path.append(part)
    return tuple(path)


Lines = dict[tuple, Any]  # key path → line in the main file, or (file, line) for a drop-in's


def _where(found: Any, file: str) -> tuple[str, int | None]:
    return found if isinstance(found, tuple) else (file, found)


def merge_dropin(
    data: dict, lines: Lines, file: str, extra: dict, extra_lines: dict[tuple, int], extra_file: str, appendable=()
) -> None:
    """Merge one drop-in file's data into ``data`` (in place), its key lines into ``lines``."""

    def merge(into: dict, add: dict, path: tuple) -> None:
        for key, value in add.items():
            here = path + (key,)
            if key not in into:
                into[key] = value
                for loc, line in extra_lines.items():
                    if loc[: len(here)] == here:
                        lines[loc] = (extra_file, line)
            elif isinstance(into[key], dict) and isinstance(value, dict):
                merge(into[key], value, here)
            elif here in appendable and isinstance(into[key], list) and isinstance(value, list):
                offset = len(into[key])
                into[key] = [*into[key], *value]
                for loc, line in extra_lines.items():
                    if loc[: len(here)] == here and len(loc) > len(here) and isinstance(loc[len(here)], int):
                        lines[here + (loc[len(here)] + offset,) + loc[len(here) + 1 :]] = (extra_file, line)
            else:
                first_file, first_line = _where(_line_for(here, lines), file)
                key_text = ".".join(str(p) for p in here)
                raise ConfigError(
                    extra_file, extra_lines.get(here), key_text, f"already set in {first_file}:{first_line}"
                )

    merge(data, extra, ())


def read_with_dropins(path: str | Path, config_dir: str | Path | None, appendable=()) -> tuple[Any, Lines]:
    """The main file merged with every drop-in of ``config_dir`` (name order)."""
    data, lines = read_yaml(path)
    if config_dir is None:
        return data, lines
    folder = Path(config_dir)
    if not folder.is_dir():
        raise ConfigError(str(folder), None, "(config dir)", "not a directory")
    for extra_path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        extra, extra_lines = read_yaml(extra_path)
        merge_dropin(data, lines, str(path), extra, extra_lines, str(extra_path), appendable)
    return data, lines


def validate(model: type[M], data: Any, lines: Lines, file: str) -> M:
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
        where_file, line = _where(_line_for(loc, lines), file)
        raise ConfigError(where_file, line, key, message) from None


def read_yaml(path: str | Path) -> tuple[Any, dict[tuple, int]]:
    """A config file's data and the line of each key path; ``ConfigError`` when unreadable."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(file, None, "(file)", f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = Path(path).read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(file, line, "(file)", f"not UTF-8 (byte {exc.start})") from None
    return parse_yaml(text, file)


def load_config(model: type[M], path: str | Path, config_dir: str | Path | None = None, appendable=()) -> M:
    """Read, parse and validate a YAML config file (and the drop-ins of ``config_dir``);
    relative paths in it stay as written."""
    data, lines = read_with_dropins(path, config_dir, appendable)
    return validate(model, data, lines, str(path))


def check_listen(value: str) -> str:
    """``host:port`` with a port from 1 to 65535 (``[::1]:9443`` for IPv6)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not host:port with a port from 1 to 65535")
    return value


Listen = Annotated[str, AfterValidator(check_listen)]
