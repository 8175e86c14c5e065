"""Kibana saved objects (pure): a data view on the audit data streams and saved searches.

``auditseal-collector export kibana`` prints them as the NDJSON Kibana's Saved Objects
import takes (Stack Management → Saved Objects → Import, or ``POST
/api/saved_objects/_import``); ``configs/kibana/auditseal.ndjson`` is that output.
"""

from __future__ import annotations

import orjson

from . import templates

DATA_VIEW_ID = "auditseal-audit"
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"

# (id, title, KQL, columns)
SEARCHES = [
    (
        "auditseal-failed-logins",
        "auditseal: failed logins",
        'event.category:"authentication" and event.outcome:"failure"',
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
]


def data_view() -> dict:
    return {
        "type": "index-pattern",
        "id": DATA_VIEW_ID,
        "coreMigrationVersion": "8.8.0",
        "typeMigrationVersion": "8.0.0",
        "managed": False,
        "references": [],
        "attributes": {
            "title": templates.STREAM_PATTERN,
            "name": "auditseal audit events",
            "timeFieldName": "@timestamp",
            "allowNoIndex": True,
        },
    }


def saved_search(object_id: str, title: str, kql: str, columns: list[str]) -> dict:
    source = {"query": {"query": kql, "language": "kuery"}, "filter": [], "indexRefName": INDEX_REF}
    return {
        "type": "search",
        "id": object_id,
        "coreMigrationVersion": "8.8.0",
        "typeMigrationVersion": "10.5.0",
        "managed": False,
        "references": [{"name": INDEX_REF, "type": "index-pattern", "id": DATA_VIEW_ID}],
        "attributes": {
            "title": title,
            "description": f"KQL: {kql}",
            "columns": columns,
            "sort": [["@timestamp", "desc"]],
            "grid": {},
            "hideChart": False,
            "isTextBasedQuery": False,
            "kibanaSavedObjectMeta": {"searchSourceJSON": orjson.dumps(source).decode()},
        },
    }


def saved_objects() -> list[dict]:
    return [data_view(), *(saved_search(*s) for s in SEARCHES)]


def ndjson() -> bytes:
    return b"".join(orjson.dumps(o, option=orjson.OPT_SORT_KEYS) + b"\n" for o in saved_objects())
