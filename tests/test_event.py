import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditseal.errors import Rejected
from auditseal.formats import event


def test_canonical_bytes_golden():
    doc = {"z": 1, "a": {"c": [1, "é"], "b": None}, "@timestamp": "x"}
    assert event.canonical_bytes(doc) == b'{"@timestamp":"x","a":{"b":null,"c":[1,"\xc3\xa9"]},"z":1}'


def test_event_id_is_stable_and_distinct():
    assert event.event_id("web-1", 42) == "c3c3e07f73dd1b51161ff1718ef6eae5"
    assert event.event_id("web-1", 42) != event.event_id("web-1", 43)
    assert event.event_id("web-1", 42) != event.event_id("web-14", 2)


def test_expand_dotted_merges_with_nested():
    doc = {
        "event.action": "login",
        "event": {"outcome": "success"},
        "user.name": "al",
        "@timestamp": "t",
        "labels": {"a.b": 1},
    }
    assert event.expand_dotted(doc) == {
        "event": {"action": "login", "outcome": "success"},
        "user": {"name": "al"},
        "@timestamp": "t",
        "labels": {"a": {"b": 1}},
    }


def test_get_and_set_path():
    doc = {}
    event.set_path(doc, "user.target.name", "bob")
    assert doc == {"user": {"target": {"name": "bob"}}}
    assert event.get_path(doc, "user.target.name") == "bob"
    assert event.get_path(doc, "user.name.first") is None


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-01-02T03:04:05Z", "2026-01-02T03:04:05.000000Z"),
        ("2026-01-02T04:04:05.5+01:00", "2026-01-02T03:04:05.500000Z"),
        ("2026-01-02 03:04:05", "2026-01-02T03:04:05.000000Z"),
        (1767322445, "2026-01-02T02:54:05.000000Z"),
    ],
)
def test_normalise_ts(value, expected):
    assert event.normalise_ts(value) == expected


@pytest.mark.parametrize("value", ["yesterday", True, None, {"t": 1}, "2026-13-02T03:04:05.000000Z"])
def test_bad_timestamps_are_rejected(value):
    with pytest.raises(Rejected):
        event.normalise_ts(value)


def test_missing_fields():
    doc = {"event": {"action": "x", "outcome": ""}}
    assert event.missing_fields(doc, ("event.action", "event.outcome", "user.name")) == ["event.outcome", "user.name"]


@given(
    moment=st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59)),
    digits=st.integers(0, 6),
)
def test_short_utc_times_take_the_fast_path_and_agree_with_the_general_one(moment, digits):
    text = moment.strftime("%Y-%m-%dT%H:%M:%S").zfill(19)
    if digits:
        text += "." + f"{moment.microsecond:06d}"[:digits]
    text += "Z"
    general = event.format_ts(event.parse_ts(text))
    assert event.normalise_ts(text) == general


@pytest.mark.parametrize("text", ["2026-02-30T00:00:00Z", "0000-01-01T00:00:00.5Z", "2026-01-01T24:00:00.1Z"])
def test_a_short_utc_time_that_is_no_real_time_is_refused(text):
    with pytest.raises(Rejected) as refused:
        event.normalise_ts(text)
    assert refused.value.reason == "bad_timestamp"
