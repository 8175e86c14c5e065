import pytest

from auditseal.errors import Rejected
from collector.query import EventQuery
from collector.sinks.sqlite_search import page_sql, where


def test_params_become_a_tenant_scoped_query():
    q = EventQuery.from_params(
        {
            "tenant": "acme",
            "user": "alice",
            "action": "user_login",
            "category": "authentication",
            "source_ip": "0:0::1",
            "q": "Failed  PASSWORD",
            "since": "2026-11-28T10:00:00+01:00",
            "until": "2026-11-29",
            "order": "asc",
            "limit": "5",
        }
    )
    assert q == EventQuery(
        "acme",
        user="alice",
        action="user_login",
        category="authentication",
        source_ip="::1",
        since="2026-11-28T09:00:00.000000Z",
        until="2026-11-29T00:00:00.000000Z",
        text=("failed", "password"),
        order="asc",
        limit=5,
    )
    sql, args = page_sql(q)
    assert sql.startswith("SELECT doc FROM events WHERE tenant = ? AND user_name = ? AND action = ?")
    assert "ORDER BY ts ASC, event_id ASC" in sql
    assert args[0] == "acme" and args[-1] == 6  # one more than the limit: is there a next page


def test_the_server_decided_tenant_wins_over_the_parameter():
    q = EventQuery.from_params({"tenant": "globex", "user": "bob"}, tenant="acme")
    assert q.tenant == "acme" and where(q)[1][:2] == ["acme", "bob"]


def test_a_cursor_resumes_after_the_last_event_and_is_bound_to_its_query():
    q = EventQuery.from_params({"tenant": "acme", "user": "alice"})
    doc = {"@timestamp": "2026-11-28T10:00:00.000001Z", "event": {"id": "ab" * 16}}
    cursor = q.next_cursor([doc], more=True)
    assert q.next_cursor([doc], more=False) is None
    again = EventQuery.from_params({"tenant": "acme", "user": "alice", "cursor": cursor, "limit": "7"})
    assert again.after == ("2026-11-28T10:00:00.000001Z", "ab" * 16)
    assert "(ts, event_id) < (?, ?)" in page_sql(again)[0]
    for other in (
        {"tenant": "globex", "user": "alice"},
        {"tenant": "acme", "user": "bob"},
        {"tenant": "acme", "user": "alice", "order": "asc"},
        {"tenant": "acme"},
    ):
        with pytest.raises(Rejected) as bad:
            EventQuery.from_params({**other, "cursor": cursor})
        assert bad.value.reason == "bad_query" and "another query" in str(bad.value)
    for junk in ("x", "AAAA", cursor[:-3], "eyJ2IjoxfQ"):
        with pytest.raises(Rejected):
            EventQuery.from_params({"tenant": "acme", "user": "alice", "cursor": junk})


def test_text_words_become_quoted_fts_phrases():
    q = EventQuery.from_params({"tenant": "acme", "q": 'bob" OR 1=1 NEAR(x'})
    assert q.text == ("bob", "or", "1", "1", "near", "x")
    assert where(q)[1][-1] == '"bob" "or" "1" "1" "near" "x"'


@pytest.mark.parametrize(
    "params, message",
    [
        ({}, "tenant is required"),
        ({"tenant": "a", "limit": "0"}, "limit must be between"),
        ({"tenant": "a", "limit": "x"}, "integer"),
        ({"tenant": "a", "since": "last week"}, "since is not an ISO 8601"),
        ({"tenant": "a", "usr": "x"}, "unknown parameters: usr"),
        ({"tenant": "a", "source_ip": "10.0.0.300"}, "source_ip: not an IP address"),
        ({"tenant": "a", "category": "Auth|x"}, "category: an ECS category"),
        ({"tenant": "a", "q": "!!"}, "q: no word"),
        ({"tenant": "a", "order": "sideways"}, "order: asc or desc"),
        ({"tenant": "a", "host": "h" * 1025}, "longer than 1024"),
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


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from collector.query import canonical_ip  # noqa: E402

_octets = st.one_of(st.integers(0, 300).map(str), st.text("0123456789", min_size=1, max_size=4))
_ip_like = st.one_of(
    st.lists(_octets, min_size=1, max_size=5).map(".".join),
    st.ip_addresses().map(str),
    st.text(" 0123456789.:abcdef", max_size=24),
)


@given(_ip_like)
def test_canonical_ip_skips_the_parse_only_for_what_ipaddress_would_return_unchanged(value):
    import ipaddress

    canonical_ip.cache_clear()
    try:
        expected = ipaddress.ip_address(value.strip()).compressed
    except ValueError:
        expected = None
    assert canonical_ip(value) == expected
