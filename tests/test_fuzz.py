"""Fuzzing inside `make test`: every atheris target for a few seconds (``make fuzz`` runs
them longer), and hypothesis over generated JSON through normaliser → validator →
admission → every sink's materialisation (SQLite row, Elasticsearch bulk body, sealer leaf)."""

import os
import subprocess
import sys

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.normalise import Source, from_json_line, stamp
from auditseal.errors import Rejected
from auditseal.formats import storable
from auditseal.formats.event import REQUIRED_FROM_AGENT
from auditseal.formats.merkle import leaf_hash
from auditseal.formats.wire import BatchHeader
from auditseal.tls import PeerIdentity
from collector.ingest.admit import admit
from collector.journal import BatchMeta
from collector.retention import RetentionPolicy, RetentionRule
from collector.sinks.es import bulk, templates
from collector.sinks.sqlite_index import row
from collector.sinks.stored import materialise
from tests.fuzz.targets import TARGETS

SECONDS = int(os.environ.get("AUDITSEAL_FUZZ_SECONDS", "5"))


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_atheris_target_finds_nothing(target, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", target, f"-max_total_time={SECONDS}", f"-artifact_prefix={tmp_path}/"],
        capture_output=True,
        text=True,
        timeout=SECONDS + 120,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "DONE" in done.stderr and "runs in" in done.stderr  # it really ran


scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
keys = st.sampled_from(
    [
        "event",
        "user",
        "name",
        "action",
        "category",
        "outcome",
        "labels",
        "source",
        "ip",
        "host",
        "organization",
        "id",
        "@timestamp",
        "event.action",
        "user.name",
        "_x",
        "",
        "a..b",
        "auditseal",
        "invalid",
        "type",
        "message",
    ]
) | st.text(max_size=8)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5), max_leaves=40
)


def documents():
    """Mostly-plausible events: required fields present, then anything anywhere."""
    base = st.fixed_dictionaries(
        {
            "event": st.fixed_dictionaries(
                {
                    "action": st.text(min_size=1, max_size=5) | json_values,
                    "category": st.sampled_from(["iam", ["authentication"]]) | json_values,
                },
                optional={"outcome": json_values},
            )
        },
        optional={
            "user": json_values,
            "@timestamp": st.text(max_size=30) | st.integers() | st.floats(allow_nan=False),
            "organization": json_values,
            "source": json_values,
            "labels": json_values,
            "host": json_values,
        },
    )
    return st.builds(lambda b, extra: {**extra, **b}, base, st.dictionaries(keys, json_values, max_size=4))


POLICY = RetentionPolicy(rules=[RetentionRule(name="auth", categories=["authentication"], archive_days=30)])
WHO = PeerIdentity("web-1", frozenset({"acme"}))
NOW = "2026-12-01T00:00:00.000000Z"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_whatever_a_line_holds_it_is_refused_with_a_reason_or_stored_by_every_sink(doc):
    try:
        line = orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):
        return  # not JSON: nothing an application could write
    try:
        event = from_json_line(line, Source("acme", "h"), NOW)
    except Rejected as exc:
        assert exc.reason and str(exc)
        return
    stamp(event, "web-1", 7, "0" * 32)
    sent = orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
    admitted, refused = admit(WHO, BatchHeader("web-1", "k", 0, 7, 7, ""), [sent], [orjson.loads(sent)], NOW)
    assert refused == [], f"the agent shipped what the collector refuses: {refused}"
    [(_seq, tenant, stored_line)] = admitted
    meta = BatchMeta("web-1", tenant, NOW)
    stored_doc, stored = materialise(meta, stored_line)
    storable.check(orjson.loads(stored), REQUIRED_FROM_AGENT)
    values = row(stored_doc, stored)  # what SQLite binds: only types it takes
    assert all(v is None or type(v) in (str, int, bytes) for v in values)
    assert all(not isinstance(v, int) or -(2**63) <= v < 2**63 for v in values)
    bulk.body([bulk.Doc(tenant, templates.data_stream(tenant), stored_doc["event"]["id"], stored)])
    POLICY.partition(stored_doc)
    leaf_hash(stored)


def _outcome(line: bytes, field_map: dict) -> tuple:
    try:
        return ("stored", from_json_line(line, Source("acme", "h"), NOW, field_map))
    except Rejected as exc:
        return ("refused", exc.reason)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    documents()
    | st.builds(
        lambda d, k, v: {**d, k: v}, documents(), st.sampled_from(["a.b", "user.name", "tags", "related"]), json_values
    )
)
def test_the_fast_path_for_plain_lines_agrees_with_the_full_reshaping_path(doc):
    """A plain line (no dotted keys, nothing mapped or set aside) skips the reshaping pass and
    reuses its one storable scan; a field map that moves nothing forces the full path, which
    must give the very same event, or refuse for the same reason."""
    try:
        line = orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):
        return
    assert _outcome(line, {}) == _outcome(line, {"absent.field": "other.field"})
