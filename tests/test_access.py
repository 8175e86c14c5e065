"""Roles, principals and the tenant scope (pure), the hashed token store and rate limits."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditseal.access import Principal, parse_role
from auditseal.errors import Rejected
from auditseal.storage.tokens import TokenStore
from collector.admin.ratelimit import RateLimits


@pytest.mark.parametrize(
    "role, tenants, reach",
    [
        ("admin", [], None),
        ("auditor", ["acme", "globex"], {"acme", "globex"}),
        ("tenant-auditor:acme", [], {"acme"}),
        ("tenant-auditor:acme", ["acme"], {"acme"}),
    ],
)
def test_roles_reach_their_tenants(role, tenants, reach):
    assert parse_role(role, tenants) == (role, None if reach is None else frozenset(reach))


@pytest.mark.parametrize(
    "role, tenants, message",
    [
        ("root", [], "one of admin"),
        ("admin", ["acme"], "every tenant"),
        ("auditor", [], "needs the tenants"),
        ("tenant-auditor:acme", ["globex"], "acme only"),
        ("tenant-auditor:", [], "one of admin"),
        ("auditor", ["a/b"], "tenant 'a/b'"),
        ("tenant-auditor:acme\n", [], "one of admin"),
    ],
)
def test_bad_roles_say_why(role, tenants, message):
    with pytest.raises(ValueError) as bad:
        parse_role(role, tenants)
    assert message in str(bad.value)


def test_a_tenant_auditor_reads_its_tenant_and_nothing_else():
    p = Principal.of("token", "token:x", [("tenant-auditor:acme", [])])
    assert p.tenant_for(None) == "acme" and p.tenant_for("acme") == "acme"
    for other in ("globex", "acme2", "ACME", "acm"):
        with pytest.raises(Rejected) as refused:
            p.tenant_for(other)
        assert refused.value.reason == "forbidden" and other not in str(refused.value)
    with pytest.raises(Rejected) as bad:
        p.tenant_for("../acme")
    assert bad.value.reason == "bad_query"
    with pytest.raises(Rejected):
        p.require_admin()


def test_an_auditor_of_two_tenants_must_name_one_and_an_admin_reads_all():
    p = Principal.of("oidc", "oidc:sub", [("auditor", ["acme", "globex"])])
    with pytest.raises(Rejected) as bad:
        p.tenant_for(None)
    assert bad.value.reason == "bad_query"
    assert p.tenant_for("globex") == "globex"
    admin = Principal.of("oidc", "oidc:root", [("auditor", ["acme"]), ("admin", [])])
    assert admin.is_admin and admin.tenant_for("anything") == "anything"
    admin.require_admin()


@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=3), st.sampled_from(["a", "b", "c", "d"]))
def test_the_scope_is_exactly_the_union_of_grants(tenants, asked):
    p = Principal.of("token", "t", [(f"tenant-auditor:{t}", []) for t in tenants])
    if asked in tenants:
        assert p.tenant_for(asked) == asked
    else:
        with pytest.raises(Rejected):
            p.tenant_for(asked)


def test_tokens_are_stored_hashed_listed_and_revoked_at_once(tmp_path):
    store = TokenStore(tmp_path / "tokens.sqlite")
    token, record = store.create("alice", "auditor", ["globex", "acme"], days=None)
    other, _ = store.create("", "tenant-auditor:acme", [])
    assert token.startswith(f"ast_{record.id}_") and record.tenants == ("acme", "globex")
    p = store.principal(token)
    assert p.name == f"token:{record.id}" and p.tenants == {"acme", "globex"} and p.roles == ("auditor",)
    for path in tmp_path.iterdir():  # the secret is nowhere on disk
        assert token.split("_", 2)[2].encode() not in path.read_bytes()
    # A second handle (the collector's) sees the CLI's revocation on its next lookup.
    reader = TokenStore(tmp_path / "tokens.sqlite")
    assert reader.principal(token) is not None
    assert store.revoke(record.id) and not store.revoke(record.id)
    assert reader.principal(token) is None and reader.principal(other) is not None
    assert {r.id: r.revoked is not None for r in store.records()} == {record.id: True, other[4:16]: False}
    for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), "ast_000000000000_" + "x" * 43, "", "junk"):
        assert reader.principal(wrong) is None


def test_an_expired_token_is_refused(tmp_path):
    store = TokenStore(tmp_path / "tokens.sqlite")
    token, record = store.create("ci", "admin", [], days=1)
    assert store.principal(token) is not None
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1, seconds=5)
    assert store.principal(token, now=later) is None


def test_a_store_of_another_version_is_refused_not_misread(tmp_path):
    conn = sqlite3.connect(tmp_path / "tokens.sqlite")
    conn.execute("PRAGMA user_version = 9")
    conn.close()
    from auditseal.storage.tokens import TokenStoreError

    with pytest.raises(TokenStoreError) as bad:
        TokenStore(tmp_path / "tokens.sqlite").records()
    assert "version 9" in str(bad.value)


def test_rate_limits_allow_a_burst_then_the_rate_and_forget_idle_keys():
    limits = RateLimits(per_second=2, burst=3, max_keys=10)
    assert [limits.take("a", 0.0) for _ in range(3)] == [0, 0, 0]
    wait = limits.take("a", 0.0)
    assert wait == pytest.approx(0.5) and RateLimits.retry_after(wait) == "1"
    assert limits.take("b", 0.0) == 0  # another credential has its own bucket
    assert limits.take("a", 0.5) == 0 and limits.take("a", 0.5) > 0
    for n in range(50):
        limits.take(f"k{n}", 100.0 + n)
    assert len(limits._buckets) <= 11
