"""Imports the Kibana objects through Kibana's saved-objects import API (the I/O shell around
:mod:`.kibana`): ``GET /api/status`` for the version, then ``POST [/s/<space>]/api/saved_objects/
_import`` with the NDJSON as a multipart file. Credentials and CA are the Elasticsearch index's
(as Filebeat's ``setup.kibana`` falls back to its Elasticsearch output's), read from files."""

from __future__ import annotations

import base64
import ssl
from dataclasses import dataclass, field

import aiohttp

from . import kibana
from .client import _secret


class KibanaError(Exception):
    """Kibana refused or could not be reached; the message says which and why."""


@dataclass
class ImportResult:
    version: str
    installed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _version_tuple(text: str) -> tuple[int, ...]:
    core = text.split("-", 1)[0]
    return tuple(int(p) for p in core.split(".")[:3] if p.isdigit())


def _headers(index_cfg) -> dict[str, str]:
    headers = {"kbn-xsrf": "auditseal"}  # Kibana refuses API writes without it
    if index_cfg is None:
        return headers
    api_key = _secret(index_cfg.api_key_file, "API key")
    if api_key:
        headers["Authorization"] = f"ApiKey {api_key}"
    elif index_cfg.username:
        pair = f"{index_cfg.username}:{_secret(index_cfg.password_file, 'password') or ''}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    return headers


def _ssl(index_cfg) -> ssl.SSLContext | bool:
    if index_cfg is None:
        return True
    if not index_cfg.verify_certs:
        return False
    return ssl.create_default_context(cafile=str(index_cfg.ca_certs) if index_cfg.ca_certs else None)


async def _answer(response: aiohttp.ClientResponse, what: str) -> dict:
    try:
        body = await response.json(content_type=None)
    except ValueError:
        body = None
    if response.status >= 400 or not isinstance(body, dict):
        reason = body.get("message") if isinstance(body, dict) else (await response.text())[:200]
        raise KibanaError(f"{what}: HTTP {response.status}: {reason}")
    return body


async def import_objects(url: str, index_cfg=None, overwrite: bool = False, space: str | None = None) -> ImportResult:
    """Import every object; existing ones are kept unless ``overwrite``."""
    base = url.rstrip("/")
    timeout = aiohttp.ClientTimeout(total=getattr(index_cfg, "request_timeout", 30.0))
    connector = aiohttp.TCPConnector(ssl=_ssl(index_cfg))
    try:
        async with aiohttp.ClientSession(headers=_headers(index_cfg), timeout=timeout, connector=connector) as http:
            async with http.get(f"{base}/api/status") as response:
                status = await _answer(response, "GET /api/status")
            version = str(status.get("version", {}).get("number", ""))
            if not version or _version_tuple(version) < _version_tuple(kibana.LOWEST_KIBANA):
                lowest = kibana.LOWEST_KIBANA
                raise KibanaError(f"Kibana {version or '(no version)'} is older than {lowest}, the lowest supported")
            form = aiohttp.FormData()
            form.add_field("file", kibana.ndjson(), filename="auditseal.ndjson", content_type="application/ndjson")
            prefix = f"/s/{space}" if space else ""
            path = f"{prefix}/api/saved_objects/_import"
            async with http.post(f"{base}{path}", params={"overwrite": str(overwrite).lower()}, data=form) as response:
                reply = await _answer(response, f"POST {path}")
    except aiohttp.ClientError as exc:
        raise KibanaError(f"{base}: {type(exc).__name__}: {exc}") from None
    except TimeoutError:
        raise KibanaError(f"{base}: no answer within {timeout.total} s") from None
    installed, kept, failed = kibana.import_outcome(reply)
    return ImportResult(version, installed, kept, failed)
