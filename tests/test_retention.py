"""Retention policy: which class an event falls in, and the dates and days that follow."""

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from collector.retention import DEFAULT_PARTITION, RetentionPolicy, RetentionRule


def doc(tenant, category=None):
    d = {"organization": {"id": tenant}, "event": {"action": "x"}}
    if category is not None:
        d["event"]["category"] = category
    return d


POLICY = RetentionPolicy(
    archive_days=2557,
    index_days=90,
    rules=[
        RetentionRule(name="sandbox", tenants=["sandbox"], archive_days=365, index_days=14),
        RetentionRule(name="auth", categories=["authentication", "iam"], archive_days=3653),
    ],
)


def test_first_matching_rule_wins_and_unmatched_events_go_to_partition_0():
    assert POLICY.partition(doc("sandbox", ["authentication"])) == "sandbox"
    assert POLICY.partition(doc("acme", ["iam", "configuration"])) == "auth"
    assert POLICY.partition(doc("acme", "authentication")) == "auth"  # a single string category
    assert POLICY.partition(doc("acme", ["configuration"])) == DEFAULT_PARTITION
    assert POLICY.partition(doc("acme")) == DEFAULT_PARTITION


def test_retain_until_follows_the_class():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert POLICY.retain_until("auth", now) == now + timedelta(days=3653)
    assert POLICY.retain_until("sandbox", now) == now + timedelta(days=365)
    assert POLICY.retain_until(DEFAULT_PARTITION, now) == now + timedelta(days=2557)
    assert RetentionPolicy().retain_until("0", now) - now >= timedelta(days=7 * 365)


def test_hot_days_per_tenant_are_the_longest_its_rules_ask_for():
    assert POLICY.index_days_of("sandbox") == 14
    assert POLICY.index_days_of("acme") == 90


def test_rule_names_are_distinct_partitions():
    with pytest.raises(ValidationError, match="distinct"):
        RetentionPolicy(rules=[RetentionRule(name="a"), RetentionRule(name="a")])
    with pytest.raises(ValidationError):
        RetentionRule(name="0")  # the default partition's name is not a rule name
