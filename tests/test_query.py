import pytest

from auditseal.errors import Rejected
from collector.query import EventQuery


def test_params_become_a_tenant_scoped_query():
    q = EventQuery.from_params({"tenant": "acme", "user": "alice", "action": "user_login",
                                "since": "2026-11-28T10:00:00+01:00", "until": "2026-11-29",
                                "limit": "5"})
    assert q == EventQuery("acme", "alice", "user_login", "2026-11-28T09:00:00.000000Z",
                           "2026-11-29T00:00:00.000000Z", 5)
    sql, args = q.sql()
    assert sql.startswith("SELECT doc FROM events WHERE tenant = ? AND user_name = ? AND action = ?")
    assert args == ["acme", "alice", "user_login", "2026-11-28T09:00:00.000000Z",
                    "2026-11-29T00:00:00.000000Z", 5]


@pytest.mark.parametrize("params, message", [
    ({}, "tenant is required"),
    ({"tenant": "a", "limit": "0"}, "limit must be between"),
    ({"tenant": "a", "limit": "x"}, "integer"),
    ({"tenant": "a", "since": "last week"}, "since is not an ISO 8601"),
    ({"tenant": "a", "usr": "x"}, "unknown parameters: usr"),
])
def test_bad_params_are_400(params, message):
    with pytest.raises(Rejected) as bad:
        EventQuery.from_params(params)
    assert bad.value.status == 400 and message in str(bad.value)
