"""An Elasticsearch-API test server: the documented behaviour of the calls auditseal uses.

No Elasticsearch can be installed on these machines (``../shared/notes/real-services.md``),
so the sink is tested against this: a real HTTP server the official client talks to,
answering as Elasticsearch 8 documents it:

- ``PUT/GET _ilm/policy``, ``PUT/GET _index_template`` (composable, ``data_stream``, priority);
- ``_bulk`` (NDJSON): per-item statuses inside an HTTP 200 with ``errors``; data streams
  accept only ``create``; ``create`` of an existing ``_id`` in the write index → 409
  ``version_conflict_engine_exception`` (and only there: after a rollover a resend is stored
  again, as in Elasticsearch); mapping conflicts → 400 ``document_parsing_exception``;
  data streams created on first write from the matching template;
- ``_search`` with ``bool`` (filter/must/should/must_not), ``term``, ``terms``, ``range``,
  ``match_all``, ``sort``, ``search_after``, ``_source``, ``docvalue_fields``; date sort
  values are epoch milliseconds; only *refreshed* documents are searchable (every second
  or on ``_refresh``); ``_count``, ``_refresh``, ``_rollover``, ``GET _data_stream``.

Faults: ``inject_http`` (whole requests answered 429/5xx), ``inject_items`` (item
statuses 429/503), ``inject_slow`` (store, then answer late), ``stop``/``start`` (down).
What it does not implement it refuses loudly (400 ``test_server_unsupported``) and
records in ``unsupported``; the fixtures fail a test that caused any.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import threading
import time
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

import orjson
from aiohttp import web

VERSION = "8.15.0"
HEADERS = {"X-Elastic-Product": "Elasticsearch"}
CONTENT_TYPE = "application/vnd.elasticsearch+json;compatible-with=8"


class Unsupported(Exception):
    pass


class MappingError(Exception):
    pass


@dataclass
class BackingIndex:
    name: str
    docs: dict[str, dict] = field(default_factory=dict)  # _id → source
    visible: set[str] = field(default_factory=set)  # refreshed ids


@dataclass
class DataStream:
    name: str
    template: str
    mapping: dict  # explicit properties (from the template)
    dynamic: dict[str, str] = field(default_factory=dict)  # dotted path → type picked on first sight
    indices: list[BackingIndex] = field(default_factory=list)

    @property
    def write_index(self) -> BackingIndex:
        return self.indices[-1]

    def rollover(self) -> BackingIndex:
        day = dt.datetime.now(dt.timezone.utc).strftime("%Y.%m.%d")
        index = BackingIndex(f".ds-{self.name}-{day}-{len(self.indices) + 1:06d}")
        self.indices.append(index)
        return index


def _error(status: int, kind: str, reason: str) -> web.Response:
    body = {"error": {"type": kind, "reason": reason, "root_cause": [{"type": kind, "reason": reason}]},
            "status": status}
    return web.Response(status=status, body=orjson.dumps(body), headers=HEADERS, content_type="application/json")


def _ok(body: dict, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), headers=HEADERS, content_type="application/json")


def to_nanos(value) -> int:
    """A date as epoch nanoseconds (sort values: millis for ``date``, nanos for ``date_nanos``)."""
    if isinstance(value, bool):
        raise MappingError("a boolean is not a date")
    if isinstance(value, (int, float)):
        return int(value) * 1_000_000
    if isinstance(value, str):
        text = value.replace("Z", "+00:00")
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            raise MappingError(f"failed to parse date field [{value}]") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    raise MappingError(f"failed to parse date field [{value!r}]")


def _check_leaf(kind: str, path: str, value) -> None:
    if isinstance(value, dict):
        raise MappingError(f"failed to parse field [{path}] of type [{kind}]: found an object")
    if kind == "keyword" or kind == "match_only_text" or kind == "text":
        return
    if kind == "long":
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.lstrip("-").isdigit())
                                           or (isinstance(value, float) and value.is_integer())):
            raise MappingError(f"failed to parse field [{path}] of type [long]: [{value}]")
    elif kind == "float":
        try:
            float(value)
        except (TypeError, ValueError):
            raise MappingError(f"failed to parse field [{path}] of type [float]: [{value}]") from None
    elif kind == "boolean":
        if value not in (True, False, "true", "false"):
            raise MappingError(f"failed to parse field [{path}] of type [boolean]: [{value}]")
    elif kind in ("date", "date_nanos"):
        to_nanos(value)
    elif kind == "ip":
        try:
            ipaddress.ip_address(str(value))
        except ValueError:
            raise MappingError(f"failed to parse field [{path}] of type [ip]: '{value}' is not an IP "
                               f"string literal.") from None
    else:
        raise Unsupported(f"mapping type {kind}")


def _dynamic_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "float"
    return "keyword"  # strings_as_keyword (date_detection is off in auditseal's template)


def validate(stream: DataStream, doc: dict) -> dict[str, str]:
    """Check a document against the stream's mapping; returns new dynamic fields."""
    added: dict[str, str] = {}

    def walk(node: dict, props: dict | None, prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            spec = (props or {}).get(key)
            values = value if isinstance(value, list) else [value]
            for item in values:
                if item is None:
                    continue
                if spec is not None and "properties" in spec:
                    if not isinstance(item, dict):
                        raise MappingError(f"object mapping for [{path}] tried to parse field [{path}] as "
                                           f"object, but found a concrete value")
                    walk(item, spec["properties"], path + ".")
                elif spec is not None:
                    _check_leaf(spec.get("type", "object"), path, item)
                elif isinstance(item, dict):
                    known = stream.dynamic.get(path) or added.get(path)
                    if known not in (None, "object"):
                        raise MappingError(f"failed to parse field [{path}] of type [{known}]: found an object")
                    added[path] = "object"
                    walk(item, None, path + ".")
                else:
                    known = stream.dynamic.get(path) or added.get(path)
                    if known == "object":
                        raise MappingError(f"object mapping for [{path}] tried to parse field [{path}] as "
                                           f"object, but found a concrete value")
                    if known is None:
                        added[path] = _dynamic_type(item)
                    else:
                        _check_leaf(known, path, item)
    walk(doc, stream.mapping, "")
    return added


def field_values(doc: dict, path: str) -> list:
    node = [doc]
    for part in path.split("."):
        nxt = []
        for n in node:
            if isinstance(n, dict) and part in n:
                v = n[part]
                nxt.extend(v if isinstance(v, list) else [v])
        node = nxt
    # Dotted keys as written (``{"event.id": ...}``) are the same field in Elasticsearch.
    if not node and path in doc:
        v = doc[path]
        node = v if isinstance(v, list) else [v]
    return node


class ElasticsearchTestServer:
    def __init__(self, port: int = 0):
        self.port = port
        self.ilm: dict[str, dict] = {}
        self.templates: dict[str, dict] = {}
        self.streams: dict[str, DataStream] = {}
        self.unsupported: list[str] = []
        self.requests: list[str] = []
        self.http_faults: list[int] = []
        self.item_faults: list[int] = []
        self.slow: list[float] = []
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
            return [(index.name, doc_id, source) for s in self.streams.values() if stream in (None, s.name)
                    for index in s.indices for doc_id, source in index.docs.items()]

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
            return _ok({"name": "auditseal-test", "cluster_name": "auditseal-test",
                        "version": {"number": VERSION, "build_flavor": "default",
                                    "minimum_wire_compatibility_version": "7.17.0"},
                        "tagline": "You Know, for Search"})
        if parts[:2] == ["_ilm", "policy"] and len(parts) == 3:
            return self._ilm_policy(method, parts[2], body)
        if parts[:1] == ["_index_template"] and len(parts) == 2:
            return self._index_template(method, parts[1], body)
        if parts == ["_bulk"] and method in ("POST", "PUT"):
            return await self._bulk(body)
        if parts[:1] == ["_data_stream"] and len(parts) == 2 and method == "GET":
            with self._lock:
                found = self._resolve(parts[1])
                return _ok({"data_streams": [{"name": s.name, "template": s.template, "generation": len(s.indices),
                                              "indices": [{"index_name": i.name} for i in s.indices]}
                                             for s in found]})
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
            if method == "GET":
                return _ok({name: {"version": 1, "policy": self.ilm[name]}})
        raise Unsupported(f"{method} _ilm/policy")

    def _index_template(self, method, name, body) -> web.Response:
        with self._lock:
            if method == "PUT":
                doc = orjson.loads(body)
                unknown = set(doc) - {"index_patterns", "data_stream", "priority", "template", "_meta",
                                      "composed_of", "version"}
                if unknown or not doc.get("index_patterns"):
                    return _error(400, "x_content_parse_exception", f"bad template: {sorted(unknown)}")
                if doc.get("composed_of"):
                    raise Unsupported("component templates")
                policy = doc.get("template", {}).get("settings", {}).get("index.lifecycle.name")
                if policy is not None and policy not in self.ilm:
                    pass  # Elasticsearch accepts a template naming a policy that does not exist yet
                self.templates[name] = doc
                return _ok({"acknowledged": True})
            if method == "GET":
                return _ok({"index_templates": [{"name": name, "index_template": self.templates[name]}]})
        raise Unsupported(f"{method} _index_template")

    def _template_for(self, name: str) -> tuple[str, dict] | None:
        matching = [(t.get("priority", 0), n, t) for n, t in self.templates.items()
                    if any(fnmatchcase(name, p) for p in t["index_patterns"])]
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
                (op, meta), = action.items()
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
            stream = DataStream(name, template_name, template.get("template", {}).get("mappings", {})
                                .get("properties", {}))
            stream.rollover()
            self.streams[name] = stream
        if op != "create":
            return {**base, "status": 400, "error": {
                "type": "illegal_argument_exception",
                "reason": f"only write ops with an op_type of create are allowed in data streams"}}
        if doc_id is None:
            raise Unsupported("documents without _id")
        index = stream.write_index
        base["_index"] = index.name
        if doc_id in index.docs:
            return {**base, "status": 409, "error": {
                "type": "version_conflict_engine_exception",
                "reason": f"[{doc_id}]: version conflict, document already exists (current version [1])"}}
        try:
            doc = orjson.loads(source)
            if "@timestamp" not in doc:
                raise MappingError("data stream timestamp field [@timestamp] is missing")
            added = validate(stream, doc)
        except (MappingError, orjson.JSONDecodeError) as exc:
            return {**base, "status": 400, "error": {"type": "document_parsing_exception", "reason": str(exc)}}
        stream.dynamic.update(added)
        index.docs[doc_id] = doc
        return {**base, "_version": 1, "result": "created", "status": 201,
                "_shards": {"total": 1, "successful": 1, "failed": 0}}

    # -- search --------------------------------------------------------------------------
    def _visible(self, target: str, query_params) -> list[tuple[str, str, dict, DataStream]]:
        ignore = query_params.get("ignore_unavailable") == "true"
        streams = self._resolve(target, missing_ok=ignore)
        return [(index.name, doc_id, index.docs[doc_id], s) for s in streams for index in s.indices
                for doc_id in index.visible]

    def _search(self, target, params, body) -> web.Response:
        req = orjson.loads(body) if body else {}
        allowed = {"query", "sort", "size", "search_after", "_source", "docvalue_fields", "track_total_hits",
                   "from"}
        if set(req) - allowed:
            raise Unsupported(f"search options {sorted(set(req) - allowed)}")
        if req.get("from"):
            raise Unsupported("from (use search_after)")
        with self._lock:
            docs = [d for d in self._visible(target, params) if self._matches(req.get("query", {"match_all": {}}), d[2], d[3])]
            sort = req.get("sort", [])
            keys = [self._sort_key(sort, d) for d in docs]
        order = sorted(range(len(docs)), key=lambda n: keys[n]["cmp"])
        if "search_after" in req:
            after = self._cmp_from_values(sort, req["search_after"])
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
                hit["fields"] = {f: field_values(source, f) for f in req["docvalue_fields"]
                                 if field_values(source, f)}
            hits.append(hit)
        result = {"took": 1, "timed_out": False, "hits": {"max_score": None, "hits": hits}}
        if req.get("track_total_hits", True) is not False:
            result["hits"]["total"] = {"value": len(docs), "relation": "eq"}
        return _ok(result)

    def _count(self, target, params, body) -> web.Response:
        req = orjson.loads(body) if body else {}
        with self._lock:
            n = sum(1 for d in self._visible(target, params)
                    if self._matches(req.get("query", {"match_all": {}}), d[2], d[3]))
        return _ok({"count": n})

    def _field_type(self, stream: DataStream, path: str) -> str:
        node = {"properties": stream.mapping}
        for part in path.split("."):
            node = (node.get("properties") or {}).get(part)
            if node is None:
                return stream.dynamic.get(path, "keyword")
        return node.get("type", "object")

    def _norm(self, stream, path, value):
        kind = self._field_type(stream, path)
        if kind == "date":
            return to_nanos(value) // 1_000_000
        if kind == "date_nanos":
            return to_nanos(value)
        return value

    def _matches(self, query: dict, doc: dict, stream: DataStream) -> bool:
        (kind, spec), = query.items()
        if kind == "match_all":
            return True
        if kind == "bool":
            unknown = set(spec) - {"filter", "must", "should", "must_not", "minimum_should_match"}
            if unknown:
                raise Unsupported(f"bool {sorted(unknown)}")
            as_list = lambda v: v if isinstance(v, list) else [v]  # noqa: E731
            if not all(self._matches(q, doc, stream) for q in as_list(spec.get("filter", [])) + as_list(spec.get("must", []))):
                return False
            if any(self._matches(q, doc, stream) for q in as_list(spec.get("must_not", []))):
                return False
            should = as_list(spec.get("should", []))
            if should:
                need = int(spec.get("minimum_should_match", 1))
                return sum(self._matches(q, doc, stream) for q in should) >= need
            return True
        if kind in ("term", "terms"):
            (path, wanted), = spec.items()
            if kind == "term" and isinstance(wanted, dict):
                wanted = wanted["value"]
            wanted = wanted if kind == "terms" else [wanted]
            have = {self._norm(stream, path, v) for v in field_values(doc, path)}
            return any(self._norm(stream, path, w) in have for w in wanted)
        if kind == "range":
            (path, bounds), = spec.items()
            if set(bounds) - {"gte", "gt", "lte", "lt"}:
                raise Unsupported(f"range options {sorted(bounds)}")
            for v in field_values(doc, path):
                v = self._norm(stream, path, v)
                ok = all([("gte" not in bounds or v >= self._norm(stream, path, bounds["gte"])),
                          ("gt" not in bounds or v > self._norm(stream, path, bounds["gt"])),
                          ("lte" not in bounds or v <= self._norm(stream, path, bounds["lte"])),
                          ("lt" not in bounds or v < self._norm(stream, path, bounds["lt"]))])
                if ok:
                    return True
            return False
        if kind == "ids":
            raise Unsupported("ids query on data streams (use a term query)")
        raise Unsupported(f"query {kind}")

    def _sort_key(self, sort: list, d) -> dict:
        _, _, source, stream = d
        values, cmp = [], []
        for spec in sort:
            (path, opts), = (spec.items() if isinstance(spec, dict) else [(spec, {"order": "asc"})])
            order = opts.get("order", "asc") if isinstance(opts, dict) else opts
            found = field_values(source, path)
            value = self._norm(stream, path, found[0]) if found else None
            values.append(value)
            cmp.append(_Ordered(value, order == "desc"))
        return {"values": values, "cmp": tuple(cmp)}

    def _cmp_from_values(self, sort: list, values: list) -> tuple:
        out = []
        for spec, value in zip(sort, values):
            (_, opts), = (spec.items() if isinstance(spec, dict) else [(spec, {"order": "asc"})])
            order = opts.get("order", "asc") if isinstance(opts, dict) else opts
            out.append(_Ordered(value, order == "desc"))
        return tuple(out)


class _Ordered:
    """A sort value: missing values last, descending flips the comparison."""

    def __init__(self, value, desc: bool):
        self.value, self.desc = value, desc

    def _key(self):
        return (self.value is None, self.value)

    def __lt__(self, other):
        a, b = self._key(), other._key()
        if a[0] != b[0]:
            return not a[0]
        return a[1] > b[1] if self.desc else a[1] < b[1]

    def __gt__(self, other):
        return other < self

    def __eq__(self, other):
        return self._key() == other._key()
