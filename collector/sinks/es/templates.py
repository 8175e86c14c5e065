"""What the Elasticsearch sink installs (pure): ILM policies, index templates, names.

One data stream per tenant, ``logs-auditseal.audit-<namespace>``, following Elastic's
``type-dataset-namespace`` scheme so Kibana's ``logs-*`` views find it too. Every stream
uses the ``auditseal-audit`` composable template (ECS mappings); a tenant whose hot
retention differs from the default gets its own higher-priority template pointing at an
ILM policy for its number of days (ILM works per index, so per tenant).
"""

from __future__ import annotations

import hashlib
import re

from auditseal.formats.index_layout import ES_DATASET, ES_STREAM_PATTERN, ES_STREAM_PREFIX

from ...retention import RetentionPolicy

DATASET, STREAM_PREFIX, STREAM_PATTERN = ES_DATASET, ES_STREAM_PREFIX, ES_STREAM_PATTERN
TEMPLATE = "auditseal-audit"
SAFE_NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9_.]{0,79}$")

KEYWORD = {"type": "keyword", "ignore_above": 1024}
# Addresses come from logs that can lie (a host name where an address belongs): a malformed one
# leaves the document indexed, the value kept in _source and the field listed in _ignored.
IP = {"type": "ip", "ignore_malformed": True}
CUSTOM = f"{TEMPLATE}@custom"  # the operator's component template: created empty, never touched again
# Bumped when the templates change: an older auditseal-managed template is then replaced on start;
# an equal or newer one, or one not managed by auditseal, is left as it is.
TEMPLATE_VERSION = 2  # 2: @custom, ignore_malformed ips, data_stream.*, ecs, labels as keywords
DATE = {"type": "date"}
LONG = {"type": "long"}


def _obj(**fields) -> dict:
    return {"properties": fields}


ENDPOINT = _obj(ip=IP, port=LONG, address=KEYWORD, domain=KEYWORD)  # ECS source.* and destination.*

# ECS fields the agent and collector produce; anything else is mapped dynamically
# (strings as keyword), so a new field never costs an event.
MAPPINGS = {
    "dynamic": True,
    "date_detection": False,
    "dynamic_templates": [
        # ECS labels are keywords whatever their JSON type (an application's {"n": 7} included).
        {"labels_as_keyword": {"path_match": "labels.*", "mapping": KEYWORD}},
        {"strings_as_keyword": {"match_mapping_type": "string", "mapping": KEYWORD}},
    ],
    "properties": {
        # Nanosecond dates keep the events' microseconds: sorting and ranges agree with
        # the archive and the SQLite index, not just to the millisecond.
        "@timestamp": {"type": "date_nanos"},
        "message": {"type": "match_only_text"},
        "event": _obj(
            id=KEYWORD,
            action=KEYWORD,
            category=KEYWORD,
            type=KEYWORD,
            outcome=KEYWORD,
            kind=KEYWORD,
            dataset=KEYWORD,
            module=KEYWORD,
            reason=KEYWORD,
            sequence=LONG,
            created=DATE,
            ingested=DATE,
            original={"type": "keyword", "index": False, "doc_values": False},
        ),
        "organization": _obj(id=KEYWORD),
        "agent": _obj(id=KEYWORD),
        "host": _obj(name=KEYWORD, hostname=KEYWORD),
        "user": _obj(
            name=KEYWORD,
            id=KEYWORD,
            target=_obj(name=KEYWORD, id=KEYWORD),
            effective=_obj(name=KEYWORD, id=KEYWORD),
            audit=_obj(name=KEYWORD, id=KEYWORD),
        ),
        "group": _obj(name=KEYWORD, id=KEYWORD),
        "source": ENDPOINT,
        "destination": ENDPOINT,
        "related": _obj(ip=IP, user=KEYWORD, hosts=KEYWORD),
        # Elastic's data stream fields: constant per template, so no document needs to carry them.
        "data_stream": _obj(
            type={"type": "constant_keyword", "value": "logs"},
            dataset={"type": "constant_keyword", "value": ES_DATASET},
            namespace={"type": "constant_keyword"},
        ),
        "ecs": _obj(version=KEYWORD),
        "network": _obj(direction=KEYWORD),
        "file": _obj(path=KEYWORD),
        "process": _obj(
            pid=LONG,
            name=KEYWORD,
            executable=KEYWORD,
            command_line=KEYWORD,
            args=KEYWORD,
            args_count=LONG,
            exit_code=LONG,
            working_directory=KEYWORD,
            title=KEYWORD,
            parent=_obj(pid=LONG),
        ),
        "log": _obj(syslog=_obj(priority=LONG, facility=_obj(code=LONG), severity=_obj(code=LONG))),
    },
}


def namespace(tenant: str) -> str:
    """A tenant as a data stream namespace: lowercase; names that are not already safe get a
    hash suffix, so two tenants can never share a stream."""
    if SAFE_NAMESPACE.fullmatch(tenant):
        return tenant
    cleaned = re.sub(r"[^a-z0-9_.]", "_", tenant.lower())[:60]
    return f"{cleaned}_{hashlib.sha256(tenant.encode()).hexdigest()[:12]}"


def data_stream(tenant: str) -> str:
    return STREAM_PREFIX + namespace(tenant)


def ilm_name(days: int) -> str:
    return f"auditseal-audit-{days}d"


def rollover_days(days: int) -> int:
    """Roll over at a tenth of the hot retention, between 1 and 30 days (logs@lifecycle's 30d):
    an index is deleted ``days`` after its rollover, so events outlive their retention by at
    most a tenth, and a 90-day tenant has about 10 indices instead of 90."""
    return max(1, min(30, days // 10))


def ilm_policy(days: int, rollover_age: str | None = None, rollover_size: str = "50gb") -> dict:
    rollover_age = rollover_age or f"{rollover_days(days)}d"
    return {
        "policy": {
            "_meta": {
                "managed_by": "auditseal",
                "template_version": TEMPLATE_VERSION,
                "description": f"hot {days} days, then deleted; the archive keeps every event",
            },
            "phases": {
                "hot": {
                    "min_age": "0ms",
                    "actions": {"rollover": {"max_age": rollover_age, "max_primary_shard_size": rollover_size}},
                },
                "delete": {"min_age": f"{days}d", "actions": {"delete": {}}},
            },
        }
    }


def index_template(pattern: str, days: int, priority: int) -> dict:
    return {
        "index_patterns": [pattern],
        "data_stream": {},
        "priority": priority,
        "composed_of": [CUSTOM],
        "_meta": {"managed_by": "auditseal", "template_version": TEMPLATE_VERSION},
        "template": {
            "settings": {
                "index.lifecycle.name": ilm_name(days),
                "index.codec": "best_compression",
                "index.refresh_interval": "1s",
            },
            "mappings": MAPPINGS,
        },
    }


def install_plan(policy: RetentionPolicy, tenants: list[str] = ()) -> dict:
    """{"ilm": {name: body}, "templates": {name: body}} for the policy (and tenants with rules)."""
    ilm = {ilm_name(policy.index_days): ilm_policy(policy.index_days)}
    templates = {TEMPLATE: index_template(STREAM_PATTERN, policy.index_days, 200)}
    named = sorted({t for r in policy.rules for t in r.tenants} | set(tenants))
    for tenant in named:
        days = policy.index_days_of(tenant)
        if days == policy.index_days:
            continue
        ilm[ilm_name(days)] = ilm_policy(days)
        templates[f"{TEMPLATE}-{namespace(tenant)}"] = index_template(data_stream(tenant), days, 300)
    return {"ilm": ilm, "templates": templates}


def custom_component() -> dict:
    """The empty ``@custom`` component template every index template is composed of: put your
    own mappings and settings there; auditseal creates it once and never changes it."""
    return {"template": {}, "_meta": {"description": "auditseal-audit: the operator's own mappings and settings"}}


def replaces(existing: dict | None) -> bool:
    """Whether the sink's start installs its template or policy over ``existing`` (None: absent).
    Only an auditseal-managed one of an older template version is replaced."""
    if existing is None:
        return True
    meta = existing.get("_meta") or {}
    return meta.get("managed_by") == "auditseal" and int(meta.get("template_version") or 1) < TEMPLATE_VERSION
