"""The official async Elasticsearch client, configured from the collector config."""

from __future__ import annotations

from pathlib import Path

from auditseal.errors import Halt


def _secret(path: Path | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise Halt(f"{path}: cannot read the Elasticsearch {what}: {exc.strerror}") from None


def make_client(cfg):
    from elasticsearch import AsyncElasticsearch

    options = {}
    api_key = _secret(cfg.api_key_file, "API key")
    if api_key:
        options["api_key"] = api_key
    elif cfg.username:
        options["basic_auth"] = (cfg.username, _secret(cfg.password_file, "password") or "")
    if cfg.ca_certs:
        options["ca_certs"] = str(cfg.ca_certs)
    # Retries are the sink's (per item, with backoff, and from its cursor), not the transport's.
    return AsyncElasticsearch(
        cfg.hosts,
        request_timeout=cfg.request_timeout,
        max_retries=0,
        retry_on_timeout=False,
        verify_certs=cfg.verify_certs,
        **options,
    )
