"""Elasticsearch index sink: bulk ``create`` into per-tenant data streams.

Cursor: a file beside the collector's data, written after a batch is fully settled (every
item stored, duplicate or dead-lettered). A batch sent again after a crash or a failed
call is a *replay*: its ids are looked up first (after a refresh) and the ones present are
skipped, because ``create`` dedupes only within one backing index and a rollover may have
happened meanwhile. Everything else (429 and 5xx items) is retried with backoff; when
retries run out the call fails (``SinkUnavailable``) and the runner replays from the cursor.
Client errors (connection, timeouts, error answers) are translated to ``SinkUnavailable``
here, at the sink's boundary.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import orjson
from elasticsearch import ApiError, AuthorizationException, BadRequestError, NotFoundError, TransportError

from auditseal.backoff import Backoff
from auditseal.logs import kv
from auditseal.storage.files import write_atomic

from ...journal import Cursor
from ...retention import RetentionPolicy
from ..base import Batch, SinkUnavailable
from ..quarantine import Poison, is_poison
from ..stored import materialise
from . import bulk, templates

STORE_ERRORS = (ApiError, TransportError, OSError)  # the cluster's health, not an event's content

log = logging.getLogger("auditseal.collector.elasticsearch")
LOOKUP_CHUNK = 1000


class ElasticsearchIndex:
    name = "index"

    def __init__(
        self,
        client,
        state_dir: Path,
        retention: RetentionPolicy,
        metrics,
        bulk_max_events: int = 5000,
        item_retries: int = 8,
        quarantine=None,
    ):
        self.client = client
        self.state_dir = Path(state_dir)
        self.retention = retention
        self.metrics = metrics
        self.bulk_max_events = bulk_max_events
        self.item_retries = item_retries
        self.dead_letter_path = self.state_dir / "dead-letter.ndjson"  # without a quarantine
        self.quarantine = quarantine
        self._sources: dict = {}
        self._replay = True  # the first batch after a start may have been sent before a crash
        self._tenants: set[str] = set()
        self.keep_cursor = True  # False: workers share a journal consumer, which keeps the position

    # -- sink protocol -------------------------------------------------------------------
    async def open(self) -> Cursor | None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            await self.install()
        except STORE_ERRORS as exc:
            raise SinkUnavailable(f"elasticsearch: {type(exc).__name__}: {exc}") from exc
        cursor = self.state_dir / "cursor.json"
        return Cursor.decode(orjson.loads(cursor.read_bytes())) if cursor.exists() else None

    async def install(self, overwrite: bool = False, ilm: bool = True, index_templates: bool = True) -> list[str]:
        """ILM policies, the ``@custom`` component template and the index templates, each only
        where it is missing or an older auditseal-managed version (``templates.replaces``), so
        an operator's edits survive restarts; ``overwrite`` replaces them all (``setup``, which
        can also ask for only the policies or only the templates). Returns what it wrote."""
        try:
            return await self._install(overwrite, ilm, index_templates)
        except AuthorizationException as exc:
            if overwrite:
                raise
            # A key without the cluster privileges: someone else manages the templates (setup).
            log.warning(
                "elasticsearch: templates not checked (no privilege); assuming they are managed elsewhere",
                extra=kv(error=str(exc)[:200]),
            )
            return []

    async def _install(self, overwrite: bool, ilm: bool, index_templates: bool) -> list[str]:
        plan = templates.install_plan(self.retention)
        wrote: list[str] = []
        for name, body in plan["ilm"].items() if ilm else ():
            existing = await self._existing(self.client.ilm.get_lifecycle(name=name), name, "policy")
            if overwrite or templates.replaces(existing):
                await self.client.ilm.put_lifecycle(name=name, policy=body["policy"])
                wrote.append(f"ilm/{name}")
        if not index_templates:
            return wrote
        try:
            await self.client.cluster.put_component_template(
                name=templates.CUSTOM, create=True, **templates.custom_component()
            )
            wrote.append(f"component/{templates.CUSTOM}")
        except BadRequestError as exc:
            if "already exists" not in str(exc):
                raise
        for name, body in plan["templates"].items():
            found = await self._existing(self.client.indices.get_index_template(name=name), None, "index_templates")
            existing = found[0]["index_template"] if found else None
            if overwrite or templates.replaces(existing):
                await self.client.indices.put_index_template(name=name, **body)
                wrote.append(f"template/{name}")
        if wrote:
            log.info("elasticsearch: installed", extra=kv(what=",".join(wrote)))
        return wrote

    @staticmethod
    async def _existing(request, name: str | None, key: str):
        """The body of a GET, or None when Elasticsearch answers 404."""
        try:
            reply = (await request).body
        except NotFoundError:
            return None
        return reply[name][key] if name is not None else reply.get(key)

    async def process(self, batch: Batch) -> None:
        self._sources = {}  # event id → (cursor, meta, journal line): what a quarantine keeps
        docs = []
        for event in batch:
            if event.error is not None:
                if self.quarantine is None or not is_poison(event.error):
                    raise event.error
                self.quarantine.add(event.cursor, event.meta, event.line, event.error)
                continue
            event_id = event.doc["event"]["id"]
            docs.append(bulk.Doc(event.meta.tenant, templates.data_stream(event.meta.tenant), event_id, event.stored))
            self._sources[event_id] = (event.cursor, event.meta, event.line)
        try:
            if self._replay or batch.replay:
                docs = await self._not_yet_indexed(docs)
            for start in range(0, len(docs), self.bulk_max_events):
                await self._send(docs[start : start + self.bulk_max_events])
        except STORE_ERRORS as exc:
            self._replay = True
            raise SinkUnavailable(f"elasticsearch: {type(exc).__name__}: {exc}") from exc
        except BaseException:
            self._replay = True
            raise
        self._replay = False
        if self.keep_cursor:
            write_atomic(self.state_dir / "cursor.json", orjson.dumps(batch.end.encode()))

    async def close(self) -> None:
        await self.client.close()

    # -- sending ---------------------------------------------------------------------------
    async def _send(self, docs: list[bulk.Doc]) -> set[str]:
        """Bulk-create ``docs``; returns the ids refused for good (quarantined)."""
        backoff = Backoff(initial=0.2, maximum=10.0)
        refused: set[str] = set()
        for attempt in range(self.item_retries + 1):
            reply = await self.client.bulk(operations=bulk.body(docs))
            outcome = bulk.classify(docs, reply.body)
            self.metrics.index_items.labels("stored").inc(outcome.stored)
            self.metrics.index_items.labels("duplicate").inc(outcome.duplicates)
            for status, n in outcome.retry_statuses.items():
                self.metrics.index_items.labels(str(status)).inc(n)
            if outcome.dead:
                self._dead_letter(outcome.dead)
                refused.update(d.doc.event_id for d in outcome.dead)
            if not outcome.retry:
                return refused
            docs = outcome.retry
            delay = backoff.delay(attempt + 1)
            log.warning(
                "elasticsearch deferred items; retrying",
                extra=kv(items=len(docs), statuses=outcome.retry_statuses, attempt=attempt + 1, delay=round(delay, 2)),
            )
            await asyncio.sleep(delay)
        raise SinkUnavailable(f"elasticsearch kept {len(docs)} items deferred after {self.item_retries} retries")

    async def retry(self, items) -> list[str]:
        """Index quarantined events again (``quarantine retry``); the ids now stored."""
        docs = []
        self._sources = {}
        for meta, line in items:
            doc, stored = materialise(meta, line)
            docs.append(bulk.Doc(meta.tenant, templates.data_stream(meta.tenant), doc["event"]["id"], stored))
        docs = await self._not_yet_indexed(docs)
        quarantine, self.quarantine = self.quarantine, None  # a refusal again leaves it as it was
        try:
            refused = await self._send(docs)
        finally:
            self.quarantine = quarantine
        return [d.event_id for d in docs if d.event_id not in refused]

    def _dead_letter(self, dead: list[bulk.DeadLetter]) -> None:
        if self.quarantine is not None:
            for d in dead:
                self.metrics.index_dead_letters.labels(d.error_type).inc()
                source = self._sources.get(d.doc.event_id)
                if source is not None:
                    self.quarantine.add(*source, Poison(f"{d.status} {d.error_type}: {d.reason}"))
            log.error(
                "elasticsearch refused events; quarantined (they stay in the archive)",
                extra=kv(count=len(dead), first_type=dead[0].error_type),
            )
            return
        with open(self.dead_letter_path, "ab") as f:
            for d in dead:
                self.metrics.index_dead_letters.labels(d.error_type).inc()
                f.write(
                    orjson.dumps(
                        {
                            "time": time.time(),
                            "tenant": d.doc.tenant,
                            "stream": d.doc.stream,
                            "event_id": d.doc.event_id,
                            "status": d.status,
                            "type": d.error_type,
                            "reason": d.reason,
                            "event": orjson.Fragment(d.doc.source),
                        }
                    )
                    + b"\n"
                )
        log.error(
            "elasticsearch refused events; dead-lettered (they stay in the archive)",
            extra=kv(count=len(dead), first_type=dead[0].error_type, file=str(self.dead_letter_path)),
        )

    async def _not_yet_indexed(self, docs: list[bulk.Doc]) -> list[bulk.Doc]:
        """Drop the docs a previous attempt already stored (in any backing index)."""
        if not docs:
            return docs
        streams = sorted({d.stream for d in docs})
        await self.client.indices.refresh(index=",".join(streams), ignore_unavailable=True, allow_no_indices=True)
        present: set[str] = set()
        ids = [d.event_id for d in docs]
        for start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[start : start + LOOKUP_CHUNK]
            reply = await self.client.search(
                index=",".join(streams),
                ignore_unavailable=True,
                allow_no_indices=True,
                size=len(chunk),
                source=False,
                query={"terms": {"event.id": chunk}},
                docvalue_fields=["event.id"],
            )
            for hit in reply.body["hits"]["hits"]:
                present.add(hit["fields"]["event.id"][0])
        if present:
            log.info("replay: skipping events already indexed", extra=kv(count=len(present)))
            self.metrics.index_items.labels("replayed_present").inc(len(present))
        return [d for d in docs if d.event_id not in present]
