"""The OpenAPI 3.1 description of the admin API (``/v1/openapi.json``); a test holds it to the
routes the app really has."""

from __future__ import annotations

from ..query import MAX_LIMIT


def _param(name: str, description: str, schema: dict | None = None, required: bool = False) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


TENANT = _param("tenant", "tenant to read; may be left out by a credential that reads one tenant only")
TIME = {"type": "string", "format": "date-time"}
FILTERS = [
    TENANT,
    _param("user", "user.name, or user.id on events with no user.name"),
    _param("target_user", "user.target.name"),
    _param("action", "event.action"),
    _param("category", "an entry of event.category", {"type": "string", "pattern": "^[a-z_]{1,64}$"}),
    _param("outcome", "event.outcome", {"type": "string"}),
    _param("source_ip", "source.ip (an IPv4 or IPv6 address)"),
    _param("host", "host.name"),
    _param("since", "@timestamp from (inclusive), ISO 8601", TIME),
    _param("until", "@timestamp before (exclusive), ISO 8601", TIME),
    _param("q", "words that must all be words of message (letters, digits, _; any case)"),
]
ORDER = _param("order", "newest first (desc, default) or oldest first", {"type": "string", "enum": ["desc", "asc"]})
PAGE = [
    ORDER,
    _param("limit", "events per page", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100}),
    _param("cursor", "next_cursor of the previous page (bound to the same filters)"),
]
ERRORS = {
    "400": {
        "description": "bad parameter",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
    "401": {"description": "missing, invalid, expired or revoked credential"},
    "403": {"description": "the credential may not read that tenant or endpoint"},
    "429": {"description": "rate limit exceeded (Retry-After)"},
    "503": {"description": "index or audit trail unavailable (Retry-After)"},
}


def _get(summary: str, params: list[dict], ok: str = "application/json", secured: bool = True) -> dict:
    op: dict = {
        "summary": summary,
        "parameters": params,
        "responses": {"200": {"description": "ok", "content": {ok: {}}}, **(ERRORS if secured else {})},
    }
    if not secured:
        op["security"] = []
    return {"get": op}


def spec() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "auditseal collector admin API",
            "version": "1",
            "description": "Every /v1 call needs a bearer credential (auditseal token, or an OIDC JWT) and is "
            "recorded as an auditseal.query audit event in the tenant it read.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
                    "required": ["error", "reason"],
                }
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/healthz": _get("liveness", [], secured=False),
            "/readyz": _get("readiness: journal and sinks", [], secured=False),
            "/metrics": _get("Prometheus metrics", [], "text/plain", secured=False),
            "/v1/openapi.json": _get("this description", [], secured=False),
            "/ui": _get("the web UI (sign in with a token)", [], "text/html", secured=False),
            "/ui/": _get("the web UI", [], "text/html", secured=False),
            "/v1/whoami": _get("the caller: name, roles, tenants", []),
            "/v1/tenants": _get("tenants the caller may read", []),
            "/v1/events": _get("a page of matching events and next_cursor", FILTERS + PAGE),
            "/v1/events/count": _get("how many events match", FILTERS),
            "/v1/events/export": _get(
                "every matching event, streamed (oldest first unless order=desc)",
                FILTERS
                + [ORDER, _param("format", "ndjson (default) or csv", {"type": "string", "enum": ["ndjson", "csv"]})],
                "application/x-ndjson",
            ),
            "/v1/proof": _get(
                "inclusion proof bundle of one event against the newest signed checkpoint",
                [TENANT, _param("event_id", "32 hex digits", {"type": "string", "pattern": "^[0-9a-f]{32}$"}, True)],
            ),
            "/v1/alerts": _get(
                "alerts, newest first, with their deliveries",
                [
                    TENANT,
                    _param("rule", "rule name"),
                    _param("severity", "severity", {"type": "string", "enum": ["low", "medium", "high", "critical"]}),
                    _param("since", "alert time from", TIME),
                    _param("until", "alert time to", TIME),
                    _param("limit", "alerts per page", {"type": "integer", "minimum": 1, "maximum": 1000}),
                    _param("cursor", "next_cursor of the previous page"),
                ],
            ),
            "/v1/alerts/dead-letters": _get("alert deliveries given up", [TENANT]),
            "/v1/agents": _get("agents: events, last sequence, last event time, gaps", [TENANT]),
            "/v1/checkpoints": _get("newest signed checkpoint per log and the last verification", [TENANT]),
            "/v1/status": _get("sinks and journal (admin role)", []),
        },
    }
