"""The HTTP side of the Elasticsearch test server (see the package docstring)."""

from __future__ import annotations

import asyncio
import threading
from fnmatch import fnmatchcase

import orjson
from aiohttp import web

from .model import DataStream, MappingError, Unsupported, field_values, validate
from .query import aggregate, cmp_from_values, matches, sort_key

VERSION = "8.15.0"
HEADERS = {"X-Elastic-Product": "Elasticsearch"}


def _error(status: int, kind: str, reason: str) -> web.Response:
    body = {
        "error": {"type": kind, "reason": reason, "root_cause": [{"type": kind, "reason": reason}]},
        "status": status,
    }
    return web.Response(status=status, body=orjson.dumps(body), headers=HEADERS, content_type="application/json")


def _ok(body: dict, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), headers=HEADERS, content_type="application/json")


class ElasticsearchTestServer:
    def __init__(self, port: int = 0):
        self.port = port
        self.ilm: dict[str, dict] = {}
        self.templates: dict[str, dict] = {}
        self.components: dict[str, dict] = {}  # component templates
        self.ignored_fields: dict[str, list[str]] = {}  # _id → fields ignore_malformed left out
        self.streams: dict[str, DataStream] = {}
        self.unsupported: list[str] = []
        self.requests: list[str] = []
        self.http_faults: list[int] = []
        self.item_faults: list[int] = []
        self.slow: list[float] = []
        self.cluster_privileges = True  # False: the key may write events, not manage templates
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle (from the test's thread) ----------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
            self._thread.start()
            asyncio.run_coroutine_threadsafe(self._start_refresher(), self._loop).result(5)
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> None:
        app = web.Application(client_max_size=512 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Down: the port refuses connections; data is kept for ``start``."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._runner = None

    def close(self) -> None:
        self.stop()
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._cancel_refresher(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def inject_http(self, status: int, count: int = 1) -> None:
        with self._lock:
            self.http_faults.extend([status] * count)

    def inject_items(self, status: int, count: int = 1) -> None:
        with self._lock:
            self.item_faults.extend([status] * count)

    def inject_slow(self, seconds: float, count: int = 1) -> None:
        with self._lock:
            self.slow.extend([seconds] * count)

    # -- what the tests count ------------------------------------------------------------
    def documents(self, stream: str | None = None) -> list[tuple[str, str, dict]]:
        """(backing index, _id, source) of every stored document, refreshed or not."""
        with self._lock:
            return [
                (index.name, doc_id, source)
                for s in self.streams.values()
                if stream in (None, s.name)
                for index in s.indices
                for doc_id, source in index.docs.items()
            ]

    def rollover(self, stream: str) -> str:
        with self._lock:
            return self.streams[stream].rollover().name

    # -- HTTP ----------------------------------------------------------------------------
    async def _start_refresher(self) -> None:
        self._refresh_task = asyncio.get_running_loop().create_task(self._refresher())

    async def _cancel_refresher(self) -> None:
        self._refresh_task.cancel()
        try:
            await self._refresh_task
        except asyncio.CancelledError:
            pass

    async def _refresher(self) -> None:
        while True:
            await asyncio.sleep(1.0)  # index.refresh_interval: 1s
            self._refresh("*")

    def _refresh(self, target: str) -> int:
        with self._lock:
            shards = 0
            for stream in self._resolve(target, missing_ok=True):
                for index in stream.indices:
                    index.visible = set(index.docs)
                    shards += 1
            return shards

    async def _dispatch(self, request: web.Request) -> web.Response:
        path = request.match_info["tail"]
        self.requests.append(f"{request.method} /{path}")
        parts = [p for p in path.split("/") if p]
        try:
            return await self._route(request, request.method, parts)
        except Unsupported as exc:
            self.unsupported.append(f"{request.method} /{path}: {exc}")
            return _error(400, "test_server_unsupported", f"the test server does not implement {exc}")
        except KeyError as exc:
            return _error(404, "resource_not_found_exception", f"{exc} not found")

    async def _route(self, request, method, parts) -> web.Response:
        body = await request.read()
        if not parts and method in ("GET", "HEAD"):
            return _ok(
                {
                    "name": "auditseal-test",
                    "cluster_name": "auditseal-test",
                    "version": {
                        "number": VERSION,
                        "build_flavor": "default",
                        "minimum_wire_compatibility_version": "7.17.0",
                    },
                    "tagline": "You Know, for Search",
                }
            )
        if parts[:1] in (["_ilm"], ["_index_template"], ["_component_template"]) and not self.cluster_privileges:
            action = {"_ilm": "cluster:admin/ilm", "_index_template": "indices:admin/index_template"}.get(
                parts[0], "cluster:admin/component_template"
            )
            return _error(
                403,
                "security_exception",
                f"action [{action}/{'get' if method in ('GET', 'HEAD') else 'put'}] is unauthorized for API key "
                "id [writer] of user [auditseal], this action is granted by the cluster privileges "
                "[manage_ilm,manage_index_templates,manage,all]",
            )
        if parts[:2] == ["_ilm", "policy"] and len(parts) == 3:
            return self._ilm_policy(method, parts[2], body)
        if parts[:1] == ["_index_template"] and len(parts) == 2:
            return self._index_template(method, parts[1], body, request.query)
        if parts[:1] == ["_component_template"] and len(parts) == 2:
            return self._component_template(method, parts[1], body, request.query)
        if parts == ["_bulk"] and method in ("POST", "PUT"):
            return await self._bulk(body)
        if parts[:1] == ["_data_stream"] and len(parts) == 2 and method == "GET":
            with self._lock:
                found = self._resolve(parts[1])
                return _ok(
                    {
                        "data_streams": [
                            {
                                "name": s.name,
                                "template": s.template,
                                "generation": len(s.indices),
                                "indices": [{"index_name": i.name} for i in s.indices],
                            }
                            for s in found
                        ]
                    }
                )
        if parts[-1:] == ["_refresh"] and method in ("POST", "GET"):
            shards = self._refresh(parts[0] if len(parts) == 2 else "*")
            return _ok({"_shards": {"total": shards, "successful": shards, "failed": 0}})
        if len(parts) == 2 and parts[1] == "_rollover" and method == "POST":
            with self._lock:
                stream = self.streams[parts[0]]
                old = stream.write_index.name
                new = stream.rollover().name
            return _ok({"acknowledged": True, "old_index": old, "new_index": new, "rolled_over": True})
        if parts[-1:] == ["_search"] and method in ("GET", "POST"):
            return self._search(parts[0] if len(parts) == 2 else "*", request.query, body)
        if parts[-1:] == ["_count"] and method in ("GET", "POST"):
            return self._count(parts[0] if len(parts) == 2 else "*", request.query, body)
        raise Unsupported(f"{method} /{'/'.join(parts)}")

    def _ilm_policy(self, method, name, body) -> web.Response:
        with self._lock:
            if method == "PUT":
                doc = orjson.loads(body)
                phases = doc.get("policy", {}).get("phases")
                if not isinstance(phases, dict) or set(doc) != {"policy"}:
                    return _error(400, "x_content_parse_exception", "[put_lifecycle_request] policy.phases required")
                for phase, spec in phases.items():
                    if phase not in ("hot", "warm", "cold", "frozen", "delete"):
                        return _error(400, "illegal_argument_exception", f"unknown phase [{phase}]")
                    if "min_age" in spec and not str(spec["min_age"]).rstrip("dhmsn").isdigit():
                        return _error(400, "illegal_argument_exception", f"bad min_age [{spec['min_age']}]")
                self.ilm[name] = doc["policy"]
                return _ok({"acknowledged": True})
            if name not in self.ilm:
                return _error(404, "resource_not_found_exception", f"Lifecycle policy not found: {name}")
            if method == "GET":
                return _ok({name: {"version": 1, "policy": self.ilm[name]}})
        raise Unsupported(f"{method} _ilm/policy")

    def _component_template(self, method, name, body, query) -> web.Response:
        with self._lock:
            if method == "PUT":
                doc = orjson.loads(body)
                if not isinstance(doc.get("template"), dict) or set(doc) - {"template", "_meta", "version"}:
                    return _error(400, "x_content_parse_exception", "[component_template] template required")
                if query.get("create") == "true" and name in self.components:
                    return _error(400, "illegal_argument_exception", f"component template [{name}] already exists")
                self.components[name] = doc
                return _ok({"acknowledged": True})
            if name not in self.components:
                return _error(404, "resource_not_found_exception", f"component template matching [{name}] not found")
            if method == "HEAD":
                return web.Response(status=200, headers=HEADERS)
            if method == "GET":
                return _ok({"component_templates": [{"name": name, "component_template": self.components[name]}]})
        raise Unsupported(f"{method} _component_template")

    def _index_template(self, method, name, body, query) -> web.Response:
        with self._lock:
            if method == "PUT":
                doc = orjson.loads(body)
                unknown = set(doc) - {
                    "index_patterns",
                    "data_stream",
                    "priority",
                    "template",
                    "_meta",
                    "composed_of",
                    "version",
                    "ignore_missing_component_templates",
                }
                if unknown or not doc.get("index_patterns"):
                    return _error(400, "x_content_parse_exception", f"bad template: {sorted(unknown)}")
                missing = [c for c in doc.get("composed_of", []) if c not in self.components]
                missing = [c for c in missing if c not in doc.get("ignore_missing_component_templates", [])]
                if missing:
                    return _error(400, "invalid_index_template_exception", f"component templates {missing} missing")
                if query.get("create") == "true" and name in self.templates:
                    return _error(400, "illegal_argument_exception", f"index template [{name}] already exists")
                self.templates[name] = doc
                return _ok({"acknowledged": True})
            if name not in self.templates:
                return _error(404, "resource_not_found_exception", f"index template matching [{name}] not found")
            if method == "HEAD":
                return web.Response(status=200, headers=HEADERS)
            if method == "GET":
                return _ok({"index_templates": [{"name": name, "index_template": self.templates[name]}]})
        raise Unsupported(f"{method} _index_template")

    def _template_for(self, name: str) -> tuple[str, dict] | None:
        matching = [
            (t.get("priority", 0), n, t)
            for n, t in self.templates.items()
            if any(fnmatchcase(name, p) for p in t["index_patterns"])
        ]
        if not matching:
            return None
        _, n, t = max(matching, key=lambda m: m[0])
        return n, t

    def _resolve(self, target: str, missing_ok: bool = False) -> list[DataStream]:
        found = []
        for part in target.split(","):
            hits = [s for n, s in self.streams.items() if fnmatchcase(n, part)]
            if not hits and "*" not in part and not missing_ok:
                raise KeyError(f"no such index [{part}]")
            found.extend(hits)
        return found

    async def _bulk(self, body: bytes) -> web.Response:
        with self._lock:
            status = self.http_faults.pop(0) if self.http_faults else None
            delay = self.slow.pop(0) if self.slow else 0.0
        if status is not None:
            kind = "es_rejected_execution_exception" if status == 429 else "unavailable_shards_exception"
            return _error(status, kind, f"injected {status}")
        lines = body.split(b"\n")
        items, errors = [], False
        i = 0
        with self._lock:
            while i < len(lines):
                if not lines[i].strip():
                    i += 1
                    continue
                action = orjson.loads(lines[i])
                ((op, meta),) = action.items()
                if op not in ("create", "index"):
                    raise Unsupported(f"bulk action {op}")
                source = lines[i + 1]
                i += 2
                item = self._bulk_item(op, meta, source)
                errors = errors or "error" in item
                items.append({op: item})
        if delay:
            await asyncio.sleep(delay)
        return _ok({"took": 1, "errors": errors, "items": items})

    def _bulk_item(self, op: str, meta: dict, source: bytes) -> dict:
        name, doc_id = meta.get("_index"), meta.get("_id")
        base = {"_index": name, "_id": doc_id}
        if self.item_faults:
            status = self.item_faults.pop(0)
            kind = "es_rejected_execution_exception" if status == 429 else "unavailable_shards_exception"
            return {**base, "status": status, "error": {"type": kind, "reason": f"injected {status}"}}
        stream = self.streams.get(name)
        if stream is None:
            found = self._template_for(name)
            if found is None or "data_stream" not in found[1]:
                raise Unsupported(f"writing to [{name}], which no data stream template matches")
            template_name, template = found
            # Component templates first, in order, then the index template's own: later wins.
            properties: dict = {}
            for part in template.get("composed_of", []):
                properties.update(
                    self.components.get(part, {}).get("template", {}).get("mappings", {}).get("properties", {})
                )
            properties.update(template.get("template", {}).get("mappings", {}).get("properties", {}))
            stream = DataStream(name, template_name, properties)
            stream.rollover()
            self.streams[name] = stream
        if op != "create":
            return {
                **base,
                "status": 400,
                "error": {
                    "type": "illegal_argument_exception",
                    "reason": "only write ops with an op_type of create are allowed in data streams",
                },
            }
        if doc_id is None:
            raise Unsupported("documents without _id")
        index = stream.write_index
        base["_index"] = index.name
        if doc_id in index.docs:
            return {
                **base,
                "status": 409,
                "error": {
                    "type": "version_conflict_engine_exception",
                    "reason": f"[{doc_id}]: version conflict, document already exists (current version [1])",
                },
            }
        try:
            doc = orjson.loads(source)
            if "@timestamp" not in doc:
                raise MappingError("data stream timestamp field [@timestamp] is missing")
            ignored: list[str] = []
            added = validate(stream, doc, ignored)
            if ignored:
                self.ignored_fields[doc_id] = ignored
        except (MappingError, orjson.JSONDecodeError) as exc:
            return {**base, "status": 400, "error": {"type": "document_parsing_exception", "reason": str(exc)}}
        stream.dynamic.update(added)
        index.docs[doc_id] = doc
        return {
            **base,
            "_version": 1,
            "result": "created",
            "status": 201,
            "_shards": {"total": 1, "successful": 1, "failed": 0},
        }

    # -- search --------------------------------------------------------------------------
    def _visible(self, target: str, query_params) -> list[tuple[str, str, dict, DataStream]]:
        ignore = query_params.get("ignore_unavailable") == "true"
        streams = self._resolve(target, missing_ok=ignore)
        return [
            (index.name, doc_id, index.docs[doc_id], s)
            for s in streams
            for index in s.indices
            for doc_id in index.visible
        ]

    def _search(self, target, params, body) -> web.Response:
        req = orjson.loads(body) if body else {}
        allowed = {
            "query",
            "sort",
            "size",
            "search_after",
            "_source",
            "docvalue_fields",
            "track_total_hits",
            "from",
            "aggs",
        }
        if set(req) - allowed:
            raise Unsupported(f"search options {sorted(set(req) - allowed)}")
        if req.get("from"):
            raise Unsupported("from (use search_after)")
        with self._lock:
            docs = [
                d for d in self._visible(target, params) if matches(req.get("query", {"match_all": {}}), d[2], d[3])
            ]
            sort = req.get("sort", [])
            keys = [sort_key(sort, d) for d in docs]
        order = sorted(range(len(docs)), key=lambda n: keys[n]["cmp"])
        if "search_after" in req:
            after = cmp_from_values(sort, req["search_after"])
            order = [n for n in order if keys[n]["cmp"] > after]
        size = int(req.get("size", 10))
        if size > 10_000:
            return _error(400, "illegal_argument_exception", "Result window is too large")
        hits = []
        for n in order[:size]:
            index, doc_id, source, _ = docs[n]
            hit = {"_index": index, "_id": doc_id, "_score": None}
            if req.get("_source", True) is not False:
                hit["_source"] = source
            if sort:
                hit["sort"] = keys[n]["values"]
            if req.get("docvalue_fields"):
                hit["fields"] = {f: field_values(source, f) for f in req["docvalue_fields"] if field_values(source, f)}
            hits.append(hit)
        result = {"took": 1, "timed_out": False, "hits": {"max_score": None, "hits": hits}}
        if req.get("track_total_hits", True) is not False:
            result["hits"]["total"] = {"value": len(docs), "relation": "eq"}
        if req.get("aggs"):
            result["aggregations"] = aggregate(req["aggs"], docs, None)
        return _ok(result)

    def _count(self, target, params, body) -> web.Response:
        req = orjson.loads(body) if body else {}
        with self._lock:
            n = sum(
                1 for d in self._visible(target, params) if matches(req.get("query", {"match_all": {}}), d[2], d[3])
            )
        return _ok({"count": n})
