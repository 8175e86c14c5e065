"""Kibana saved objects (pure): a data view on the audit data streams, saved searches, two
visualizations and a dashboard, as the NDJSON Kibana's saved-objects import takes.

``auditseal-collector setup --kibana URL`` imports them (``POST /api/saved_objects/_import``);
``auditseal-collector export kibana`` prints them and ``configs/kibana/auditseal.ndjson`` is that
output (Stack Management → Saved Objects → Import).

Compatibility: Kibana refuses an object whose ``typeMigrationVersion`` (or
``migrationVersion[type]``) is newer than the newest migration it knows for that type ("belongs
to a more recent version of Kibana"), and one whose ``coreMigrationVersion`` is newer than itself;
an older one it migrates forward. So every object is written in the shape of the lowest Kibana
supported, :data:`LOWEST_KIBANA`, carries only attributes that version's types have, and names
that version's migration level in ``migrationVersion`` — the field every 8.x reads (8.8 added
``typeMigrationVersion`` and still reads the old one). 8.0.0 converted every type used here to
a shareable type (``convertToMultiNamespaceTypeVersion: '8.0.0'``), so 8.0.0 is each type's
newest version there.

Visualizations are aggregation-based (``visualization``), not Lens: their saved shape is the same
across 8.x and every later Kibana migrates it.
"""

from __future__ import annotations

import orjson

from ..alerting import ALERT_ACTION
from . import templates

LOWEST_KIBANA = "8.0.0"
# The newest migration of each type in LOWEST_KIBANA: what the objects declare.
MIGRATION_VERSIONS = {"index-pattern": "8.0.0", "search": "8.0.0", "visualization": "8.0.0", "dashboard": "8.0.0"}
# The attributes each type had in LOWEST_KIBANA's mappings: the objects use no other.
ATTRIBUTES = {
    "index-pattern": {"title", "timeFieldName", "allowNoIndex", "fields", "fieldFormatMap", "sourceFilters"},
    "search": {"title", "description", "columns", "sort", "grid", "hideChart", "kibanaSavedObjectMeta"},
    "visualization": {"title", "description", "visState", "uiStateJSON", "version", "kibanaSavedObjectMeta"},
    "dashboard": {
        "title",
        "description",
        "panelsJSON",
        "optionsJSON",
        "timeRestore",
        "timeFrom",
        "timeTo",
        "refreshInterval",
        "version",
        "kibanaSavedObjectMeta",
    },
}

DATA_VIEW_ID = "auditseal-audit"
DASHBOARD_ID = "auditseal-overview"
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"
INTEGRITY_ACTION = "integrity_failure"
FAILED_LOGINS = 'event.category:"authentication" and event.outcome:"failure"'

# (id, title, KQL, columns)
SEARCHES = [
    (
        "auditseal-failed-logins",
        "auditseal: failed logins",
        FAILED_LOGINS,
        ["organization.id", "user.name", "source.ip", "event.action", "host.name"],
    ),
    (
        "auditseal-admin-actions",
        "auditseal: admin actions",
        'event.category:"iam" or event.action:("sudo_command" or "ran-command" or "admin_action" or '
        '"role_granted" or "role_revoked" or "permission_changed" or "feature_flag_changed")',
        ["organization.id", "user.name", "event.action", "event.outcome", "host.name"],
    ),
    (
        "auditseal-key-changes",
        "auditseal: key and credential changes",
        'event.action:(*key* or "password_changed" or "changed-password" or "acquired-credentials" or '
        '"refreshed-credentials" or "account_recovery_requested" or "account_recovery_completed")',
        ["organization.id", "user.name", "event.action", "event.outcome", "host.name"],
    ),
    (
        "auditseal-flag-changes",
        "auditseal: feature flag changes",
        'event.action:"feature_flag_changed" or (event.category:"configuration" and event.action:*flag*)',
        ["organization.id", "user.name", "event.action", "message"],
    ),
    (
        "auditseal-recovery-attempts",
        "auditseal: account recovery attempts",
        "event.action:*recovery*",
        ["organization.id", "user.name", "source.ip", "event.outcome"],
    ),
    (
        "auditseal-integrity-findings",
        "auditseal: integrity findings",
        f'event.action:"{INTEGRITY_ACTION}"',
        ["organization.id", "event.reason", "message"],
    ),
    (
        "auditseal-alerts",
        "auditseal: alerts",
        f'event.kind:"alert" and event.action:"{ALERT_ACTION}"',
        ["organization.id", "rule.name", "labels.severity", "message"],
    ),
]


def _versions(object_type: str) -> dict:
    return {"coreMigrationVersion": LOWEST_KIBANA, "migrationVersion": {object_type: MIGRATION_VERSIONS[object_type]}}


def _source(kql: str, with_index: bool = True) -> str:
    source: dict = {"query": {"query": kql, "language": "kuery"}, "filter": []}
    if with_index:
        source["indexRefName"] = INDEX_REF
    return orjson.dumps(source).decode()


def _data_view_ref() -> list[dict]:
    return [{"name": INDEX_REF, "type": "index-pattern", "id": DATA_VIEW_ID}]


def data_view() -> dict:
    return {
        "type": "index-pattern",
        "id": DATA_VIEW_ID,
        **_versions("index-pattern"),
        "references": [],
        "attributes": {"title": templates.STREAM_PATTERN, "timeFieldName": "@timestamp", "allowNoIndex": True},
    }


def saved_search(object_id: str, title: str, kql: str, columns: list[str]) -> dict:
    return {
        "type": "search",
        "id": object_id,
        **_versions("search"),
        "references": _data_view_ref(),
        "attributes": {
            "title": title,
            "description": f"KQL: {kql}",
            "columns": columns,
            "sort": [["@timestamp", "desc"]],
            "grid": {},
            "hideChart": False,
            "kibanaSavedObjectMeta": {"searchSourceJSON": _source(kql)},
        },
    }


def _agg(agg_id: str, agg_type: str, schema: str, **params) -> dict:
    return {"id": agg_id, "enabled": True, "type": agg_type, "params": params, "schema": schema}


def visualization(object_id: str, title: str, kql: str, vis_type: str, params: dict, aggs: list[dict]) -> dict:
    state = {"title": title, "type": vis_type, "params": {"type": vis_type, **params}, "aggs": aggs}
    return {
        "type": "visualization",
        "id": object_id,
        **_versions("visualization"),
        "references": _data_view_ref(),
        "attributes": {
            "title": title,
            "description": f"KQL: {kql}",
            "visState": orjson.dumps(state).decode(),
            "uiStateJSON": "{}",
            "version": 1,
            "kibanaSavedObjectMeta": {"searchSourceJSON": _source(kql)},
        },
    }


def logins_by_outcome() -> dict:
    return visualization(
        "auditseal-logins-by-outcome",
        "auditseal: logins by outcome",
        'event.category:"authentication"',
        "histogram",
        {"addLegend": True, "addTooltip": True, "legendPosition": "right", "isVislibVis": True},
        [
            _agg("1", "count", "metric"),
            _agg("2", "date_histogram", "segment", field="@timestamp", interval="auto", min_doc_count=1),
            _agg("3", "terms", "group", field="event.outcome", size=3, order="desc", orderBy="1"),
        ],
    )


def top_failing_sources() -> dict:
    return visualization(
        "auditseal-top-failing-sources",
        "auditseal: top failing source IPs",
        FAILED_LOGINS,
        "table",
        {"perPage": 10, "showPartialRows": False, "showMetricsAtAllLevels": False, "showTotal": False},
        [
            _agg("1", "count", "metric"),
            _agg("2", "terms", "bucket", field="source.ip", size=20, order="desc", orderBy="1"),
        ],
    )


# The dashboard's panels: (saved object type, id, x, y, w, h) on Kibana's 48-column grid.
PANELS = [
    ("visualization", "auditseal-logins-by-outcome", 0, 0, 32, 15),
    ("visualization", "auditseal-top-failing-sources", 32, 0, 16, 15),
    ("search", "auditseal-admin-actions", 0, 15, 24, 15),
    ("search", "auditseal-key-changes", 24, 15, 24, 15),
    ("search", "auditseal-flag-changes", 0, 30, 24, 15),
    ("search", "auditseal-integrity-findings", 24, 30, 24, 15),
    ("search", "auditseal-alerts", 0, 45, 48, 15),
]


def dashboard() -> dict:
    panels, references = [], []
    for n, (object_type, object_id, x, y, w, h) in enumerate(PANELS, 1):
        ref = f"panel_{n}"
        panels.append(
            {
                "version": LOWEST_KIBANA,
                "type": object_type,
                "gridData": {"x": x, "y": y, "w": w, "h": h, "i": str(n)},
                "panelIndex": str(n),
                "embeddableConfig": {},
                "panelRefName": ref,
            }
        )
        references.append({"name": ref, "type": object_type, "id": object_id})
    return {
        "type": "dashboard",
        "id": DASHBOARD_ID,
        **_versions("dashboard"),
        "references": references,
        "attributes": {
            "title": "auditseal: overview",
            "description": "Logins by outcome, top failing source IPs, admin, key and flag changes, "
            "archive integrity findings and alerts",
            "panelsJSON": orjson.dumps(panels).decode(),
            "optionsJSON": orjson.dumps({"useMargins": True, "hidePanelTitles": False}).decode(),
            "timeRestore": True,
            "timeFrom": "now-24h",
            "timeTo": "now",
            "refreshInterval": {"pause": False, "value": 60000},
            "version": 1,
            "kibanaSavedObjectMeta": {"searchSourceJSON": _source("", with_index=False)},
        },
    }


def saved_objects() -> list[dict]:
    """In dependency order: what an object references comes before it."""
    return [data_view(), *(saved_search(*s) for s in SEARCHES), logins_by_outcome(), top_failing_sources(), dashboard()]


def ndjson() -> bytes:
    return b"".join(orjson.dumps(o, option=orjson.OPT_SORT_KEYS) + b"\n" for o in saved_objects())


def import_outcome(reply: dict) -> tuple[list[str], list[str], list[str]]:
    """Kibana's ``_import`` answer as (installed, kept, failed): an object that exists already is
    a ``conflict`` when not overwriting, which setup reports as kept (an operator's edits stay);
    any other error is a failure with Kibana's reason."""
    # Kibana's answer is foreign input: any missing part reads as unknown, never a crash.
    installed = [f"{r.get('type')}/{r.get('id')}" for r in reply.get("successResults") or [] if isinstance(r, dict)]
    kept, failed = [], []
    for e in reply.get("errors") or []:
        if not isinstance(e, dict):
            failed.append(f"unreadable error entry: {str(e)[:200]}")
            continue
        name, error = f"{e.get('type')}/{e.get('id')}", e.get("error") if isinstance(e.get("error"), dict) else {}
        if error.get("type") == "conflict":
            kept.append(name)
        else:
            detail = error.get("message") or error.get("reason") or error.get("type", "unknown")
            if error.get("type") == "missing_references":
                refs = error.get("references", [])
                detail = "missing references " + ", ".join(
                    f"{r.get('type')}/{r.get('id')}" for r in refs if isinstance(r, dict)
                )
            failed.append(f"{name}: {detail}")
    return installed, kept, failed
