"""A Kibana test double for the saved-objects import API, faithful to what an import checks.

No Kibana runs on the build machines (Node plus several hundred MB), so this implements, for one
modelled Kibana version, what Kibana's import does with an NDJSON file:

- ``kbn-xsrf`` required on writes; credentials checked (``ApiKey`` or ``Basic``) when set;
- ``GET /api/status`` with ``version.number``;
- ``POST [/s/<space>]/api/saved_objects/_import?overwrite=``: a multipart ``file`` whose name ends
  ``.ndjson``; per object: unknown type → ``unsupported_type``; a reference to an object neither
  in the file nor stored → ``missing_references``; an existing object without overwrite →
  ``conflict``; otherwise created or replaced, listed in ``successResults``;
- the document migrator's two refusals, which fail the whole request with 422 as ``Boom.badData``:
  ``typeMigrationVersion`` (or ``migrationVersion[type]``) newer than the newest migration the
  version knows for the type (``DocumentUpgradePipeline.assertCompatibility``), and a
  ``coreMigrationVersion`` newer than Kibana itself (``assertValidCoreVersion``);
- attributes outside the type's mappings in that version refused (newer Kibanas validate
  attributes against the type's schema on create).

``check_renders`` then does what opening the objects does: parse ``searchSourceJSON``,
``visState`` and ``panelsJSON``, resolve ``indexRefName`` and ``panelRefName`` through the
references, and require a visualization type that version registers.
"""

from __future__ import annotations

import asyncio
import threading

import orjson
from aiohttp import web

# Kibana 8.0.0's registered types, as its sources define them: the newest migration of each
# (8.0.0 made them all shareable: ``convertToMultiNamespaceTypeVersion: '8.0.0'``) and the
# attributes its mappings name.
KIBANA_8_0 = {
    "version": "8.0.0",
    "migrations": {"index-pattern": "8.0.0", "search": "8.0.0", "visualization": "8.0.0", "dashboard": "8.0.0"},
    "attributes": {
        "index-pattern": {
            "fields",
            "title",
            "type",
            "typeMeta",
            "timeFieldName",
            "intervalName",
            "sourceFilters",
            "fieldFormatMap",
            "fieldAttrs",
            "runtimeFieldMap",
            "allowNoIndex",
        },
        "search": {
            "columns",
            "description",
            "viewMode",
            "hideChart",
            "hideAggregatedPreview",
            "rowHeight",
            "hits",
            "kibanaSavedObjectMeta",
            "sort",
            "title",
            "grid",
            "version",
        },
        "visualization": {
            "description",
            "kibanaSavedObjectMeta",
            "savedSearchRefName",
            "title",
            "uiStateJSON",
            "version",
            "visState",
        },
        "dashboard": {
            "description",
            "hits",
            "kibanaSavedObjectMeta",
            "optionsJSON",
            "panelsJSON",
            "refreshInterval",
            "timeFrom",
            "timeRestore",
            "timeTo",
            "title",
            "version",
        },
    },
    "vis_types": {"area", "histogram", "horizontal_bar", "line", "pie", "table", "metric", "gauge", "goal", "markdown"},
}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("-")[0].split("."))


def _newer_than(a: str | None, b: str | None) -> bool:
    return bool(a) and (not b or _version(a) > _version(b))  # type: ignore[arg-type]


def _boom(status: int, error: str, message: str, **extra) -> web.Response:
    body = {"statusCode": status, "error": error, "message": message, **extra}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


class KibanaTestServer:
    def __init__(self, model: dict = KIBANA_8_0, api_key: str | None = None, spaces: tuple[str, ...] = ("default",)):
        self.model = model
        self.api_key = api_key
        self.spaces = set(spaces)
        self.objects: dict[tuple[str, str, str], dict] = {}  # (space, type, id) → object
        self.requests: list[str] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/api/status", self._status)
        app.router.add_post("/api/saved_objects/_import", self._import)
        app.router.add_post("/s/{space}/api/saved_objects/_import", self._import)
        app.router.add_get("/api/saved_objects/{type}/{id}", self._get)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        self.requests.append(f"{request.method} {request.path_qs}")
        if self.api_key is not None:
            given = request.headers.get("Authorization", "")
            if given != f"ApiKey {self.api_key}":
                return _boom(
                    401, "Unauthorized", "[security_exception]: unable to authenticate with provided credentials"
                )
        if request.method == "POST" and "kbn-xsrf" not in request.headers:
            return _boom(400, "Bad Request", "Request must contain a kbn-xsrf header.")
        return await handler(request)

    async def _status(self, request: web.Request) -> web.Response:
        body = {"name": "kibana-double", "version": {"number": self.model["version"], "build_snapshot": False}}
        return web.json_response(body)

    async def _import(self, request: web.Request) -> web.Response:
        space = request.match_info.get("space", "default")
        if space not in self.spaces:
            return _boom(404, "Not Found", f"Saved object [space/{space}] not found")
        overwrite = request.query.get("overwrite", "false") == "true"
        reader = await request.multipart()
        part = await reader.next()
        if part is None or part.name != "file":  # type: ignore[union-attr]
            return _boom(400, "Bad Request", "[request body.file]: expected value of type [Stream] but got [undefined]")
        name = part.filename or ""  # type: ignore[union-attr]
        if not name.endswith(".ndjson"):
            return _boom(415, "Unsupported Media Type", f"Invalid file extension .{name.rsplit('.', 1)[-1]}")
        objects = [orjson.loads(line) for line in (await part.read()).splitlines() if line.strip()]  # type: ignore[union-attr]
        for o in objects:  # the document migrator refuses the whole request
            refusal = self._migration_refusal(o)
            if refusal:
                return _boom(422, "Unprocessable Entity", refusal)
        in_file = {(o["type"], o["id"]) for o in objects}
        results, errors = [], []
        for o in objects:
            title = o.get("attributes", {}).get("title")
            meta = {"title": title}
            if o["type"] not in self.model["migrations"]:
                errors.append({"type": o["type"], "id": o["id"], "meta": meta, "error": {"type": "unsupported_type"}})
                continue
            unknown = sorted(set(o.get("attributes", {})) - self.model["attributes"][o["type"]])
            if unknown:
                error = {"type": "unknown", "message": f"[attributes.{unknown[0]}]: definition for this key is missing"}
                errors.append({"type": o["type"], "id": o["id"], "meta": meta, "error": {**error, "statusCode": 400}})
                continue
            missing = [
                {"type": r["type"], "id": r["id"]}
                for r in o.get("references", [])
                if (r["type"], r["id"]) not in in_file and (space, r["type"], r["id"]) not in self.objects
            ]
            if missing:
                errors.append(
                    {
                        "type": o["type"],
                        "id": o["id"],
                        "meta": meta,
                        "error": {"type": "missing_references", "references": missing},
                    }
                )
                continue
            key = (space, o["type"], o["id"])
            if key in self.objects and not overwrite:
                errors.append({"type": o["type"], "id": o["id"], "meta": meta, "error": {"type": "conflict"}})
                continue
            self.objects[key] = o
            results.append(
                {"type": o["type"], "id": o["id"], "meta": meta, **({"overwrite": True} if overwrite else {})}
            )
        body: dict = {"success": not errors, "successCount": len(results), "successResults": results}
        if errors:
            body["errors"] = errors
        return web.json_response(body)

    async def _get(self, request: web.Request) -> web.Response:
        found = self.objects.get(("default", request.match_info["type"], request.match_info["id"]))
        if found is None:
            message = f"Saved object [{request.match_info['type']}/{request.match_info['id']}] not found"
            return _boom(404, "Not Found", message)
        return web.json_response(found)

    def _migration_refusal(self, o: dict) -> str | None:
        core = o.get("coreMigrationVersion")
        if _newer_than(core, self.model["version"]):
            return (
                f'Document "{o.get("id")}" has a coreMigrationVersion [{core}] newer than this Kibana '
                f"[{self.model['version']}]"
            )
        declared = o.get("typeMigrationVersion") or (o.get("migrationVersion") or {}).get(o.get("type"))
        latest = self.model["migrations"].get(o.get("type"))
        if latest and _newer_than(declared, latest):
            return (
                f'Document "{o.get("id")}" belongs to a more recent version of Kibana [{declared}] '
                f"when the last known version is [{latest}]."
            )
        return None

    # -- what opening the imported objects does -------------------------------------------
    def check_renders(self, space: str = "default") -> list[str]:
        """Problems opening each stored object would show; empty when every one renders."""
        problems = []
        for (s, object_type, object_id), o in self.objects.items():
            if s != space:
                continue
            refs = {r["name"]: (r["type"], r["id"]) for r in o.get("references", [])}
            attrs = o["attributes"]
            meta = attrs.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
            if meta is not None:
                source = orjson.loads(meta)
                ref = source.get("indexRefName")
                if ref is not None and (ref not in refs or (space, *refs[ref]) not in self.objects):
                    problems.append(f"{object_type}/{object_id}: index reference {ref} does not resolve")
            if object_type == "visualization":
                state = orjson.loads(attrs["visState"])
                if state.get("type") not in self.model["vis_types"]:
                    problems.append(f"{object_type}/{object_id}: unknown visualization type {state.get('type')}")
                if not state.get("aggs"):
                    problems.append(f"{object_type}/{object_id}: no aggregations")
            if object_type == "dashboard":
                for panel in orjson.loads(attrs["panelsJSON"]):
                    target = refs.get(panel.get("panelRefName"))
                    if target is None or (space, *target) not in self.objects:
                        problems.append(f"dashboard/{object_id}: panel {panel.get('panelIndex')} does not resolve")
                    if set(panel.get("gridData", {})) != {"x", "y", "w", "h", "i"}:
                        problems.append(f"dashboard/{object_id}: panel {panel.get('panelIndex')} has no grid place")
        return problems
