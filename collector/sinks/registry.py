"""Sinks and archive stores by the ``type`` their config names (``collector.config``): each
entry builds one from its config model. The composition root looks them up here."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

from auditseal.storage import archive

from .. import config
from ..query import EventQuery
from . import sqlite_index
from .base import Sink
from .index_process import IndexProcess
from .quarantine import Quarantine
from .sqlite_search import SqliteReader


class IndexReader(Protocol):
    """What the admin API reads from an index (``sqlite_search.SqliteReader``, ``es.search.EsReader``)."""

    async def page(self, query: EventQuery) -> tuple[list[dict], bool]: ...
    async def count(self, query: EventQuery) -> int: ...
    async def agents(self, tenant: str) -> list[dict]: ...


def sqlite(cfg, data: Path, metrics, retention, box: Quarantine) -> tuple[Sink, IndexReader]:
    path = cfg.path or data / "index.sqlite"
    if cfg.own_process:
        return IndexProcess(path, box), SqliteReader(path)
    return sqlite_index.SqliteIndex(path, box), SqliteReader(path)


def elasticsearch(cfg, data: Path, metrics, retention, box: Quarantine) -> tuple[Sink, IndexReader]:
    from .es.client import make_client
    from .es.search import EsReader
    from .es.sink import ElasticsearchIndex

    client = make_client(cfg)
    sink = ElasticsearchIndex(
        client, data / "elasticsearch", retention, metrics, cfg.bulk_max_events, cfg.item_retries, box
    )
    return sink, EsReader(client)


def local_store(cfg, data: Path) -> archive.Store:
    return archive.LocalStore(cfg.path or data / "archive")


def s3_store(cfg, data: Path) -> archive.Store:
    from auditseal.storage.archive_s3 import S3Location, S3Store, make_client

    return S3Store(
        make_client(cfg.endpoint_url, cfg.region, cfg.path_style),
        S3Location(cfg.bucket, cfg.prefix),
        cfg.sse_kms_key_id,
    )


# type name → (its strict config model in ``collector.config``, the factory that builds it)
INDEXES: dict[str, tuple[type, Callable[..., tuple[Sink, IndexReader]]]] = {
    "sqlite": (config.SqliteIndexConfig, sqlite),
    "elasticsearch": (config.ElasticsearchIndexConfig, elasticsearch),
}
STORES: dict[str, tuple[type, Callable[..., archive.Store]]] = {
    "local": (config.LocalArchiveConfig, local_store),
    "s3": (config.S3ArchiveConfig, s3_store),
}


def open_index(cfg, data: Path, metrics, box: Quarantine) -> tuple[Sink, IndexReader]:
    """The index sink ``cfg.index`` names and the reader the admin API queries it with."""
    model, build = INDEXES[cfg.index.type]
    assert isinstance(cfg.index, model)
    return build(cfg.index, data, metrics, cfg.retention, box)


def open_store(cfg, data: Path) -> archive.Store:
    """The archive store ``cfg`` (``archive:``) names."""
    model, build = STORES[cfg.type]
    assert isinstance(cfg, model)
    return build(cfg, data)
