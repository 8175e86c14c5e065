"""``auditseal query``: search a collector's events through its admin API (``/v1/events``,
``/v1/events/count``, ``/v1/events/export``) with every filter the API has.

    auditseal query --collector URL [--tenant T] [filters] [--limit N | --all | --count | --export]

A page (``--limit``, newest first unless ``--order asc``) prints as a table or NDJSON; ``--all``
follows the API's cursors to the last match; ``--count`` prints how many match; ``--export``
streams every match as the server writes it (NDJSON or CSV). The tenant may be left out by a
credential that reads one tenant. Refusals print the server's reason and exit 2.
"""

from __future__ import annotations

import asyncio
import os
import sys

import aiohttp
import orjson

from auditseal.errors import Halt

TABLE_COLUMNS = [
    ("@timestamp", 27),
    ("organization.id", 15),
    ("event.action", 24),
    ("event.outcome", 13),
    ("user.name", 16),
    ("source.ip", 15),
    ("agent.id", 16),
    ("event.sequence", 14),
]
# (option, API parameter, help)
FILTERS = [
    ("--user", "user", "user.name (or user.id where no name)"),
    ("--target-user", "target_user", "user.target.name"),
    ("--action", "action", "event.action"),
    ("--category", "category", "one of event.category"),
    ("--outcome", "outcome", "success, failure or unknown"),
    ("--source-ip", "source_ip", "source.ip (compared as an address)"),
    ("--host", "host", "host.name"),
    ("--q", "q", "words that must all be in message"),
    ("--since", "since", "ISO 8601, inclusive"),
    ("--until", "until", "ISO 8601, exclusive"),
]


def add_parser(sub) -> None:
    p = sub.add_parser("query", help="search events through a collector's admin API")
    p.add_argument("--collector", required=True, help="admin URL, e.g. http://127.0.0.1:9444")
    p.add_argument("--token", help="bearer token (or AUDITSEAL_TOKEN)")
    p.add_argument("--tenant", help="the tenant to read (may be left out by a one-tenant credential)")
    for option, _, text in FILTERS:
        p.add_argument(option, help=text)
    p.add_argument("--order", choices=["desc", "asc"], help="newest first (default) or oldest first")
    p.add_argument("--limit", type=int, default=100, help="events per page (1-10000, default 100)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--all", action="store_true", help="every match, page after page")
    what.add_argument("--count", action="store_true", help="only how many events match")
    what.add_argument("--export", action="store_true", help="every match streamed by the server (--format)")
    p.add_argument("--format", choices=["table", "ndjson", "csv"], default="table", help="csv with --export only")


def _field(doc: dict, path: str) -> str:
    node = doc.get(path) if path == "@timestamp" else doc
    if path != "@timestamp":
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, list):
        return ",".join(map(str, node))
    return "" if node is None else str(node)


def format_table(events: list[dict]) -> str:
    head = "  ".join(name.ljust(width) for name, width in TABLE_COLUMNS)
    rows = ["  ".join(_field(e, name)[:width].ljust(width) for name, width in TABLE_COLUMNS) for e in events]
    return "\n".join([head, *rows, f"({len(events)} events)"])


def params_of(args) -> dict[str, str]:
    params = {"tenant": args.tenant, **{name: getattr(args, name) for _, name, _ in FILTERS}}
    if not args.count:
        params["order"] = args.order
    return {k: v for k, v in params.items() if v}


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str, token: str):
        self.session, self.base, self.token = session, base.rstrip("/"), token

    async def get(self, path: str, params: dict) -> aiohttp.ClientResponse:
        url = self.base + path
        try:
            resp = await self.session.get(url, params=params, headers={"Authorization": f"Bearer {self.token}"})
        except aiohttp.ClientError as exc:
            raise Halt(f"cannot reach {url}: {exc}") from None
        if resp.status != 200:
            body = await resp.read()
            try:
                message = orjson.loads(body).get("error", "")
            except (orjson.JSONDecodeError, AttributeError):
                message = body[:200].decode("utf-8", "replace")
            raise Halt(f"query refused ({resp.status}): {message}")
        return resp

    async def json(self, path: str, params: dict) -> dict:
        async with await self.get(path, params) as resp:
            return orjson.loads(await resp.read())


async def _run(args, out) -> None:
    token = args.token or os.environ.get("AUDITSEAL_TOKEN")
    if not token:
        raise Halt("no token: pass --token or set AUDITSEAL_TOKEN")
    if args.format == "csv" and not args.export:
        raise Halt("--format csv goes with --export")
    params = params_of(args)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=120)) as session:
        client = Client(session, args.collector, token)
        if args.count:
            out.write(f"{(await client.json('/v1/events/count', params))['count']}\n".encode())
            return
        if args.export:
            fmt = "ndjson" if args.format == "table" else args.format
            async with await client.get("/v1/events/export", {**params, "format": fmt}) as resp:
                async for chunk in resp.content.iter_chunked(1 << 16):
                    out.write(chunk)
            return
        shown: list[dict] = []
        cursor = None
        while True:
            paging = {"limit": str(args.limit), **({"cursor": cursor} if cursor else {})}
            page = await client.json("/v1/events", {**params, **paging})
            if args.format == "ndjson":
                out.write(b"".join(orjson.dumps(e, option=orjson.OPT_SORT_KEYS) + b"\n" for e in page["events"]))
            else:
                shown.extend(page["events"])
            cursor = page.get("next_cursor")
            if not args.all or not cursor:
                break
        if args.format == "table":
            out.write((format_table(shown) + "\n").encode())


def run(args) -> int:
    out = sys.stdout.buffer
    asyncio.run(_run(args, out))
    out.flush()
    return 0
