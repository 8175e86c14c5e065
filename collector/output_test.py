"""``auditseal-collector test output``: can this collector store, with this config? Each sink
it writes to is reached and checked as the running collector needs it: the archive (a local
directory writable; an S3 bucket with versioning and Object Lock), the index (the SQLite file
writable; Elasticsearch answering, with auditseal's template and policy installed). Exit 0
when everything passes, 1 otherwise; nothing is written but a probe file in local storage."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
from pathlib import Path

from auditseal.errors import Halt

from .sinks import registry


def _writable(folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".auditseal-probe-") as probe:
        probe.write(b"probe")
        os.fsync(probe.fileno())
    return f"{folder} is writable"


def check_archive(cfg) -> tuple[bool, str]:
    where = f"archive ({cfg.archive.type})"
    try:
        if cfg.archive.type == "local":
            return True, f"{where}: {_writable(Path(cfg.archive.path or cfg.collector.data_dir / 'archive'))}"
        store = registry.open_store(cfg.archive, cfg.collector.data_dir)
        store.check_posture()
        return True, f"{where}: s3://{cfg.archive.bucket}: versioning and Object Lock enabled"
    except (Halt, OSError) as exc:
        return False, f"{where}: {exc}"
    except Exception as exc:  # the boundary: an S3 client's own errors
        return False, f"{where}: {type(exc).__name__}: {exc}"


def check_index(cfg) -> tuple[bool, str]:
    if cfg.index.type == "sqlite":
        path = Path(cfg.index.path or cfg.collector.data_dir / "index.sqlite")
        try:
            _writable(path.parent)
            if path.exists():
                sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute("PRAGMA quick_check").fetchone()
            return True, f"index (sqlite): {path} usable"
        except (OSError, sqlite3.Error) as exc:
            return False, f"index (sqlite): {path}: {exc}"
    return asyncio.run(_check_elasticsearch(cfg))


async def _check_elasticsearch(cfg) -> tuple[bool, str]:
    from elasticsearch import NotFoundError

    from .retention import RetentionPolicy
    from .sinks.es import templates
    from .sinks.es.client import make_client

    client = make_client(cfg.index)
    try:
        info = await client.info()
        plan = templates.install_plan(cfg.retention or RetentionPolicy())
        missing = []
        for name in plan["templates"]:
            try:
                await client.indices.get_index_template(name=name)
            except NotFoundError:
                missing.append(f"template {name}")
        for name in plan["ilm"]:
            try:
                await client.ilm.get_lifecycle(name=name)
            except NotFoundError:
                missing.append(f"ILM policy {name}")
        version = info["version"]["number"]
        if missing:
            return False, (
                f"index (elasticsearch {version}): missing {', '.join(missing)}: the collector installs them on "
                f"start, or run auditseal-collector setup"
            )
        return True, f"index (elasticsearch {version}): reachable; templates and ILM policies present"
    except Exception as exc:  # the boundary: connection, TLS, authentication errors
        return False, f"index (elasticsearch): {type(exc).__name__}: {exc}"
    finally:
        await client.close()


def run(cfg) -> int:
    failed = 0
    for ok, text in (check_archive(cfg), check_index(cfg)):
        print(f"{'ok  ' if ok else 'FAIL'}  {text}")
        failed += not ok
    return 1 if failed else 0
