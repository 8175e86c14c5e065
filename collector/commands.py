"""The collector's one-shot commands (``export``, ``quarantine``): they read its configuration
and state and print; none runs the service."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .sinks.quarantine import Quarantine


def export(what: str, cfg, name: str | None = None, every: bool = False) -> int:
    """Print what the Elasticsearch sink installs as request bodies: one template or policy you
    can PUT as it is (``curl -XPUT $ES/_index_template/auditseal-audit -d @-``), or with
    ``every`` all of them as Kibana Dev Tools requests (``PUT _index_template/<name>`` + body)."""
    import orjson

    from .retention import RetentionPolicy
    from .sinks.es import kibana, templates

    if what == "kibana":
        sys.stdout.buffer.write(kibana.ndjson())
        return 0
    plan = templates.install_plan(cfg.retention if cfg else RetentionPolicy())
    bodies = plan["templates"] if what == "template" else plan["ilm"]
    api = "_index_template" if what == "template" else "_ilm/policy"
    options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    if every:
        for key, body in bodies.items():
            sys.stdout.buffer.write(f"PUT {api}/{key}\n".encode() + orjson.dumps(body, option=options) + b"\n\n")
        return 0
    key = name or (templates.TEMPLATE if what == "template" else next(iter(bodies)))
    if key not in bodies:
        print(f"auditseal-collector: no {what} named {key!r}; there are: {', '.join(bodies)}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write(orjson.dumps(bodies[key], option=options) + b"\n")
    return 0


def quarantine_command(args, cfg) -> int:
    import orjson

    partitions = sorted(p.stem for p in (cfg.collector.data_dir / "quarantine").glob("archive-p*.ndjson"))
    sinks = [args.sink] if args.sink else ["index", "archive", *partitions]
    boxes = [Quarantine(cfg.collector.data_dir / "quarantine", name) for name in sinks]
    if args.action == "retry":
        for box in boxes:
            wanted = [e for e in box.open_entries() if not args.id or e.get("event_id") in args.id]
            if wanted:
                box.request_retry(args.id)
                print(
                    f"{box.sink}: retry asked for {len(wanted)} events; the running collector "
                    f"(or its next start) stores them and marks them resolved"
                )
            else:
                print(f"{box.sink}: nothing quarantined{' with those ids' if args.id else ''}")
        return 0
    total = 0
    for box in boxes:
        for e in box.open_entries():
            if args.id and e.get("event_id") not in args.id:
                continue
            total += 1
            if args.json:
                sys.stdout.buffer.write(orjson.dumps({k: v for k, v in e.items() if k != "kind"}) + b"\n")
            else:
                print(
                    f"{e['at']}  {e['sink']:<7}  {e.get('event_id') or '-':<32}  {e['tenant']}  "
                    f"{e['agent']}#{e.get('seq')}  journal {e.get('cursor', e.get('position'))}  "
                    f"{e['error_type']}: {e['error'][:200]}"
                )
    if not args.json:
        print(f"{total} quarantined events")
    return 0


def sink_name(text: str) -> str:
    if not re.fullmatch(r"index|archive|archive-p[1-9][0-9]?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not index, archive or archive-p<k>")
    return text


def setup(cfg, args) -> int:
    """Install now what the index sink installs on start (ILM policies, the @custom component
    template, the index templates; ``--ilm``/``--templates`` for one part) and, with
    ``--kibana URL``, the Kibana objects. ``--overwrite`` replaces what an operator or an older
    version left (never @custom); without it existing objects are kept."""
    import asyncio

    parts = {"ilm": args.ilm, "templates": args.templates}
    if not any(parts.values()) and not args.kibana:
        parts = {"ilm": True, "templates": True}
    index = cfg.index if cfg.index.type == "elasticsearch" else None
    if any(parts.values()) and index is None:
        print(
            "auditseal-collector: setup: the config's index is not elasticsearch: no templates or ILM to install",
            file=sys.stderr,
        )
        return 2
    status = 0
    if any(parts.values()):
        try:
            wrote = asyncio.run(_install_index(cfg, args.overwrite, parts))
        except Exception as exc:  # the boundary: an unreachable cluster or refused credentials
            print(f"auditseal-collector: setup: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        what = ", ".join(wrote) if wrote else "nothing (all present; --overwrite to replace)"
        print(f"elasticsearch: installed {what}")
    if args.kibana:
        status = _install_kibana(args.kibana, index, args.overwrite, args.space)
    return status


async def _install_index(cfg, overwrite: bool, parts: dict) -> list[str]:
    import tempfile

    from .metrics import CollectorMetrics
    from .retention import RetentionPolicy
    from .sinks.es.client import make_client
    from .sinks.es.sink import ElasticsearchIndex

    client = make_client(cfg.index)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            sink = ElasticsearchIndex(client, Path(scratch), cfg.retention or RetentionPolicy(), CollectorMetrics())
            return await sink.install(overwrite=overwrite, ilm=parts["ilm"], index_templates=parts["templates"])
    finally:
        await client.close()


def _install_kibana(url: str, index_cfg, overwrite: bool, space: str | None) -> int:
    import asyncio

    from .sinks.es.kibana_import import KibanaError, import_objects

    try:
        result = asyncio.run(import_objects(url, index_cfg, overwrite, space))
    except KibanaError as exc:
        print(f"auditseal-collector: setup: kibana: {exc}", file=sys.stderr)
        return 1
    print(f"kibana {result.version}: installed " + (", ".join(result.installed) or "nothing"))
    if result.kept:
        print("kibana: kept (present; --overwrite to replace): " + ", ".join(result.kept))
    for failure in result.failed:
        print(f"auditseal-collector: setup: kibana: {failure}", file=sys.stderr)
    return 1 if result.failed else 0
