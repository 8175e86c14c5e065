"""Rule files: YAML, one rule or a list of rules per file, validated strictly (errors name
file, line and field). Kinds (``kind``):

- ``match``: every matching event is an alert.
- ``threshold``: at least ``count`` matching events with the same group within ``window``.
- ``distinct``: at least ``count`` distinct values of ``field`` with the same group within ``window``.
- ``sequence``: an event matching step 1, then one matching step 2 with the same key within
  ``window`` (each step names the field that holds the key: aliases across fields).
- ``first_seen``: a value of ``field`` not seen for the group within ``history``.
- ``off_hours``: a matching event outside ``hours`` on ``days`` in the tenant's time zone.

``where``: field → value (equal, or contained in a list field), a list of values (any of),
or ``{exists: true|false}``. Durations: ``90s``, ``10m``, ``2h``, ``7d`` (or seconds).
``organization.id`` is always the first part of every group key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BeforeValidator, Field

from auditseal.config import StrictModel, line_of, load_config
from auditseal.errors import ConfigError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, None: 1000}


def duration_ms(value) -> int:
    """``10m`` → 600000; a bare number is seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration, e.g. 90s, 10m, 2h, 7d")
    if isinstance(value, (int, float)):
        return int(value * 1000)
    m = _DURATION.match(str(value).strip())
    if m is None:
        raise ValueError(f"{value!r} is not a duration (e.g. 90s, 10m, 2h, 7d)")
    return int(float(m.group(1)) * _UNIT_MS[m.group(2)])


Duration = Annotated[int, BeforeValidator(duration_ms)]
Scalar = Union[str, int, float, bool]


class Exists(StrictModel):
    exists: bool


Condition = Union[Scalar, list[Scalar], Exists]


def _hours(value: str) -> str:
    m = re.fullmatch(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})", value)
    if m is None or int(m.group(1)) > 23 or int(m.group(3)) > 24 or int(m.group(2)) > 59 or int(m.group(4)) > 59:
        raise ValueError("hours are HH:MM-HH:MM, e.g. 08:00-18:00")
    return value


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Rule(StrictModel):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")]
    description: str = ""
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    where: dict[str, Condition] = Field(default_factory=dict)
    group_by: list[str] = Field(default_factory=list)
    throttle: Duration = 0
    channels: list[str] = Field(default_factory=list)
    enabled: bool = True


class MatchRule(_Rule):
    kind: Literal["match"]


class ThresholdRule(_Rule):
    kind: Literal["threshold"]
    count: int = Field(ge=1)
    window: Duration


class DistinctRule(_Rule):
    kind: Literal["distinct"]
    field: str
    count: int = Field(ge=2)
    window: Duration


class Step(StrictModel):
    where: dict[str, Condition] = Field(default_factory=dict)
    key: str  # the field holding the value that links the steps (may differ per step)


class SequenceRule(_Rule):
    kind: Literal["sequence"]
    steps: Annotated[list[Step], Field(min_length=2, max_length=2)]
    window: Duration


class FirstSeenRule(_Rule):
    kind: Literal["first_seen"]
    field: str
    history: Duration
    alert_on_new_group: bool = False  # a group with no history yet is learned, not alerted


class OffHoursRule(_Rule):
    kind: Literal["off_hours"]
    hours: Annotated[str, AfterValidator(_hours)] = "08:00-18:00"
    days: list[Day] = list(DAYS[:5])


Rule = Annotated[
    Union[MatchRule, ThresholdRule, DistinctRule, SequenceRule, FirstSeenRule, OffHoursRule],
    Field(discriminator="kind"),
]


class RuleFile(StrictModel):
    rules: list[Rule]


# Events the collector raises itself alert without any rule file; a rule file may redefine
# one by name (another severity, other channels).
BUILTIN: tuple[dict, ...] = (
    {
        "name": "integrity-failure",
        "description": "the archive verifier found tampering or loss",
        "kind": "match",
        "severity": "critical",
        "where": {"event.action": "integrity_failure"},
    },
    {
        "name": "sequence-gap",
        "description": "events missing from an agent's stream",
        "kind": "match",
        "severity": "high",
        "where": {"event.action": "sequence_gap"},
    },
)


def builtin_rules() -> list:
    return list(RuleFile.model_validate({"rules": list(BUILTIN)}).rules)


def load_rules(directory: Path | None, channels: frozenset[str] | None = None) -> list:
    """Every ``*.yaml``/``*.yml`` under ``directory``, sorted, then the built-in rules not
    redefined there; rule names unique. With ``channels``, a rule naming another channel is
    an error at its line."""
    rules: list = []
    seen: dict[str, str] = {}
    files = sorted([*Path(directory).glob("*.yaml"), *Path(directory).glob("*.yml")]) if directory else []
    if directory is not None and not Path(directory).is_dir():
        raise ConfigError(str(directory), None, "(directory)", "no such directory of rule files")
    for path in files:
        for number, rule in enumerate(load_config(RuleFile, path).rules):
            if rule.name in seen:
                raise ConfigError(str(path), None, "rules.name", f"{rule.name!r} is defined in {seen[rule.name]} too")
            unknown = [c for c in rule.channels if channels is not None and c not in channels]
            if unknown:
                key = ("rules", number, "channels")
                raise ConfigError(
                    str(path),
                    line_of(path, key),
                    f"rules.{number}.channels",
                    f"unknown channel {unknown[0]!r} (configured: {', '.join(sorted(channels or ())) or 'none'})",
                )
            seen[rule.name] = str(path)
            rules.append(rule)
    rules.extend(rule for rule in builtin_rules() if rule.name not in seen)
    return rules
