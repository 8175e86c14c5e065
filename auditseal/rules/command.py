"""``auditseal rules check DIR`` and ``auditseal rules test --rules DIR --events FILE``: what a
rule author runs before deploying. ``test`` evaluates the rules over NDJSON events (each line
one stored event, as the index holds it) in file order, and prints each alert as one JSON line."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from auditseal.errors import Halt

from .engine import Engine
from .model import duration_ms, load_rules


def add_parser(sub) -> None:
    p_rules = sub.add_parser("rules", help="check alert rules, or test them over events offline")
    rules_sub = p_rules.add_subparsers(dest="rules_command", required=True)
    p_check = rules_sub.add_parser("check", help="validate every rule file in a directory")
    p_check.add_argument("dir")
    p_test = rules_sub.add_parser("test", help="evaluate rules over an NDJSON file of events; alerts as NDJSON")
    p_test.add_argument("--rules", required=True, help="directory of rule files")
    p_test.add_argument("--events", required=True, help="NDJSON events, in the order the collector stored them")
    p_test.add_argument("--tz-file", help="YAML or JSON {tenant: IANA time zone} for off-hours rules (default UTC)")
    p_test.add_argument("--lateness", default="5m", help="lateness bound (default 5m)")


def run(args) -> int:
    rules = load_rules(Path(args.dir if args.rules_command == "check" else args.rules))
    if args.rules_command == "check":
        print(f"{len(rules)} rules ok")
        return 0
    zones = _zones(args.tz_file) if args.tz_file else {}
    engine = Engine(rules, duration_ms(args.lateness), tz_of=lambda tenant: zones.get(tenant, "UTC"))
    bad = 0
    try:
        events = open(args.events, "rb")
    except OSError as exc:
        raise Halt(f"{args.events}: {exc.strerror}") from None
    with events:
        for number, line in enumerate(events, 1):
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                print(f"{args.events}:{number}: not JSON: {exc}", file=sys.stderr)
                bad += 1
                continue
            if not isinstance(doc, dict):
                print(f"{args.events}:{number}: not a JSON object", file=sys.stderr)
                bad += 1
                continue
            for alert in engine.process(doc):
                sys.stdout.buffer.write(orjson.dumps(alert.to_json()) + b"\n")
    skipped = {k[0]: v for k, v in engine.stats.items() if k[0] in ("late", "duplicates", "unusable")}
    if bad or any(skipped.values()):
        print(
            f"skipped: {bad} unreadable lines, " + ", ".join(f"{v} {k}" for k, v in sorted(skipped.items())),
            file=sys.stderr,
        )
    return 0


def _zones(path: str) -> dict[str, str]:
    import yaml
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise Halt(f"{path}: cannot read time zones: {exc}") from None
    if not isinstance(data, dict):
        raise Halt(f"{path}: expected {{tenant: time zone}}")
    for tenant, zone in data.items():
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise Halt(f"{path}: {tenant}: unknown time zone {zone!r}") from None
    return {str(k): str(v) for k, v in data.items()}
