"""The unrolled required-field checks say exactly what the general one says."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditseal.errors import Rejected
from auditseal.formats.event import REQUIRED_FROM_AGENT
from auditseal.formats.required import (
    INT_MAX,
    REQUIRED_PARSED,
    check_agent_required,
    check_parsed_required,
    check_required,
)

GOOD = {
    "@timestamp": "2026-12-01T00:00:00.000000Z",
    "event": {
        "action": "user_login",
        "category": ["authentication"],
        "outcome": "success",
        "created": "2026-12-01T00:00:01.000000Z",
        "sequence": 7,
    },
    "organization": {"id": "acme"},
    "agent": {"id": "web-1"},
}
odd_values = st.one_of(
    st.none(),
    st.just(""),
    st.just([]),
    st.booleans(),
    st.integers(min_value=-2, max_value=INT_MAX + 2) | st.sampled_from([0, 1, INT_MAX, INT_MAX + 1]),
    st.floats(allow_nan=False),
    st.text(max_size=6),
    st.sampled_from(["0000-01-01T00:00:00.000000Z", "2026-02-30T00:00:00.000000Z", "2026-12-01T00:00:00Z", "a" * 1025]),
    st.lists(st.text(max_size=3) | st.none(), max_size=3),
    st.dictionaries(st.sampled_from(["id", "x"]), st.text(max_size=3), max_size=2),
)
paths = st.sampled_from(
    [
        ("@timestamp",),
        ("event",),
        ("event", "action"),
        ("event", "category"),
        ("event", "outcome"),
        ("event", "created"),
        ("event", "sequence"),
        ("organization",),
        ("organization", "id"),
        ("agent",),
        ("agent", "id"),
    ]
)


def _spoil(changes) -> dict:
    doc = {"@timestamp": GOOD["@timestamp"], **{k: dict(v) for k, v in GOOD.items() if k != "@timestamp"}}
    for path, value in changes:
        node = doc
        for part in path[:-1]:
            if type(node.get(part)) is not dict:
                break
            node = node[part]
        else:
            if value is None and len(path) == 1:
                node.pop(path[-1], None)
            else:
                node[path[-1]] = value
    return doc


def _said(check, doc) -> tuple | None:
    try:
        check(doc)
    except Rejected as exc:
        return exc.reason, str(exc)
    return None


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(paths, odd_values), max_size=3))
def test_the_unrolled_checks_refuse_exactly_what_the_general_check_refuses_with_its_words(changes):
    doc = _spoil(changes)
    assert _said(check_agent_required, doc) == _said(lambda d: check_required(d, REQUIRED_FROM_AGENT), doc)
    assert _said(check_parsed_required, doc) == _said(lambda d: check_required(d, REQUIRED_PARSED), doc)


def test_a_good_event_passes_and_each_spoiled_field_is_named():
    assert _said(check_agent_required, _spoil([])) is None
    assert _said(check_agent_required, _spoil([(("event", "sequence"), True)])) == (
        "bad_field",
        "event.sequence: must be an integer from 1 to 2^63-1",
    )
    for bad in (0, INT_MAX + 1, "7", 7.0):
        said = _said(check_agent_required, _spoil([(("event", "sequence"), bad)]))
        assert said == ("bad_field", "event.sequence: must be an integer from 1 to 2^63-1"), bad
    with pytest.raises(Rejected, match="missing required field agent.id"):
        check_agent_required(_spoil([(("agent", "id"), "")]))
