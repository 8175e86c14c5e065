import pytest

from auditseal.errors import Rejected
from collector.query import EventQuery


def test_params_become_a_tenant_scoped_query():
    q = EventQuery.from_params(
        {
            "tenant": "acme",
            "user": "alice",
            "action": "user_login",
            "since": "2026-11-28T10:00:00+01:00",
            "until": "2026-11-29",
            "limit": "5",
        }
    )
    assert q == EventQuery(
        "acme", "alice", "user_login", "2026-11-28T09:00:00.000000Z", "2026-11-29T00:00:00.000000Z", 5
    )
    sql, args = q.sql()
    assert sql.startswith("SELECT doc FROM events WHERE tenant = ? AND user_name = ? AND action = ?")
    assert args == ["acme", "alice", "user_login", "2026-11-28T09:00:00.000000Z", "2026-11-29T00:00:00.000000Z", 5]


@pytest.mark.parametrize(
    "params, message",
    [
        ({}, "tenant is required"),
        ({"tenant": "a", "limit": "0"}, "limit must be between"),
        ({"tenant": "a", "limit": "x"}, "integer"),
        ({"tenant": "a", "since": "last week"}, "since is not an ISO 8601"),
        ({"tenant": "a", "usr": "x"}, "unknown parameters: usr"),
    ],
)
def test_bad_params_are_400(params, message):
    with pytest.raises(Rejected) as bad:
        EventQuery.from_params(params)
    assert status_of(bad.value.reason) == 400 and message in str(bad.value)


import pytest as _pytest  # noqa: E402

from auditseal.errors import Rejected as _Rejected  # noqa: E402
from collector.admin.api import STATUS
from collector.query import EventQuery as _Query  # noqa: E402


def status_of(reason):
    return STATUS.get(reason, 400)


@_pytest.mark.parametrize(
    "value, expected",
    [
        ("0999-01-01", "0999-01-01T00:00:00.000000Z"),  # zero-padded: sorts before 2026
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000Z"),
        ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
        ("2026-12-01T10:00:00+14:00", "2026-11-30T20:00:00.000000Z"),
    ],
)
def test_times_at_the_edges_of_the_calendar_are_canonical(value, expected):
    assert _Query.from_params({"tenant": "acme", "since": value}).since == expected


@_pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-01:00", "10000-01-01", "0000-01-01", "2026-02-30", "yesterday"],
)
def test_times_off_the_calendar_are_400_not_500(value):
    with _pytest.raises(_Rejected) as bad:
        _Query.from_params({"tenant": "acme", "until": value})
    assert status_of(bad.value.reason) == 400 and bad.value.reason == "bad_query"
