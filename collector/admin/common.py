"""What every admin route shares: refusals shaped by reason, and reading a dotted field."""

from __future__ import annotations

from aiohttp import web

STATUS = {
    "bad_query": 400,
    "forbidden": 403,
    "not_found": 404,
    "no_checkpoint": 404,
    "archive_incomplete": 409,
    "encrypted": 403,
    "index_unavailable": 503,
    "unavailable": 503,
}


def error(reason: str, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"error": message, "reason": reason}, status=STATUS.get(reason, 400), headers=headers)


def field(doc: dict, path: str):
    node = doc
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node
