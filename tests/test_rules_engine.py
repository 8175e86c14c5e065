"""Alert rules over event sequences, in event time: exact alerts (count, group, window) for
every kind, on the boundaries DESIGN.md section 8 fixes."""

import datetime as dt

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditseal.rules.engine import Engine, alert_id
from auditseal.rules.model import RuleFile

T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)  # a Monday
SECOND = 1000
MINUTE = 60 * SECOND


def rules(*specs):
    return RuleFile.model_validate({"rules": list(specs)}).rules


FAILED_LOGINS = {
    "name": "failed-logins",
    "kind": "threshold",
    "count": 5,
    "window": "10m",
    "where": {"event.category": "authentication", "event.outcome": "failure"},
    "group_by": ["source.ip"],
}


class Feed:
    """Events with unique ids at T0 + ms; returns the alerts each fires."""

    def __init__(self, engine):
        self.engine, self.n = engine, 0

    def ev(self, ms, tenant="acme", ip="10.0.0.1", outcome="failure", category="authentication", **extra):
        self.n += 1
        doc = {
            "@timestamp": (T0 + dt.timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z"),
            "organization": {"id": tenant},
            "event": {
                "id": f"e{self.n}",
                "category": [category],
                "outcome": outcome,
                "action": extra.pop("action", "login"),
            },
        }
        if ip is not None:
            doc["source"] = {"ip": ip}
        for path, value in extra.items():
            node = doc
            *parents, last = path.split("__")
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = value
        return self.engine.process(doc)

    def many(self, times, **kw):
        return [a for ms in times for a in self.ev(ms, **kw)]


def test_five_failures_exactly_on_the_window_boundary_fire_once_and_1ms_past_do_not():
    feed = Feed(Engine(rules(FAILED_LOGINS)))
    fired = feed.many([0, MINUTE, 2 * MINUTE, 3 * MINUTE, 10 * MINUTE])  # max − min = W: inclusive
    assert len(fired) == 1
    alert = fired[0]
    assert (alert.tenant, alert.group, alert.window_start) == ("acme", ["10.0.0.1"], "2026-11-30T09:00:00.000000Z")
    assert alert.at == "2026-11-30T09:10:00.000000Z" and len(alert.events) == 5
    assert alert.alert_id == alert_id("failed-logins", "acme", "acme\x1f10.0.0.1", alert.window_start)
    late = Feed(Engine(rules(FAILED_LOGINS)))
    assert late.many([0, MINUTE, 2 * MINUTE, 3 * MINUTE, 10 * MINUTE + 1]) == []


def test_two_tenants_with_the_same_ip_never_combine():
    feed = Feed(Engine(rules(FAILED_LOGINS)))
    assert feed.many([0, 1, 2], tenant="acme") + feed.many([3, 4], tenant="globex") == []
    assert len(feed.many([5, 6], tenant="acme")) == 1


def test_successes_and_other_ips_do_not_count_and_a_missing_group_field_is_skipped_and_counted():
    engine = Engine(rules(FAILED_LOGINS))
    feed = Feed(engine)
    assert feed.many([0, 1, 2, 3], outcome="success") == []
    assert feed.many([4, 5]) + feed.many([6, 7], ip="10.0.0.2") + feed.many([8, 9], ip=None) == []
    assert engine.stats["missing_group", "failed-logins"] == 2
    assert len(feed.many([10, 11, 12])) == 1  # the 10.0.0.1 failures: 4, 5, 10, 11, 12


def test_a_burst_alerts_once_is_throttled_then_alerts_again_after_the_throttle():
    engine = Engine(rules({**FAILED_LOGINS, "throttle": "30m"}))
    feed = Feed(engine)
    burst = feed.many([i * SECOND for i in range(20)])
    assert len(burst) == 1 and engine.stats["suppressed", "failed-logins"] == 3  # windows 2-4 of the burst
    assert feed.many([29 * MINUTE + i * SECOND for i in range(5)]) == []  # still inside 30 min of 00:04
    after = feed.many([31 * MINUTE + i * SECOND for i in range(5)])
    assert len(after) == 1 and after[0].window_start == "2026-11-30T09:31:00.000000Z"


def test_out_of_order_inside_the_lateness_counts_beyond_it_is_skipped_and_counted():
    engine = Engine(rules(FAILED_LOGINS), lateness_ms=5 * MINUTE)
    feed = Feed(engine)
    assert feed.many([20 * MINUTE, 21 * MINUTE, 22 * MINUTE, 23 * MINUTE]) == []
    assert feed.ev(12 * MINUTE) == []  # 11 min before the newest: beyond the 5 min lateness
    assert engine.stats["late", ""] == 1
    fired = feed.ev(16 * MINUTE)  # 7 min before the newest? no: 23 − 16 = 7 > 5 → late too
    assert fired == [] and engine.stats["late", ""] == 2
    fired = feed.ev(19 * MINUTE)  # 4 min late: counts, and the window starts at it
    assert len(fired) == 1 and fired[0].window_start == "2026-11-30T09:19:00.000000Z"


def test_a_redelivered_duplicate_never_counts_twice():
    engine = Engine(rules(FAILED_LOGINS))
    doc = {
        "@timestamp": "2026-11-30T09:00:00Z",
        "organization": {"id": "acme"},
        "event": {"id": "same", "category": ["authentication"], "outcome": "failure"},
        "source": {"ip": "10.0.0.1"},
    }
    assert [engine.process(dict(doc)) for _ in range(6)] == [[]] * 6
    assert engine.stats["duplicates", ""] == 5


def test_distinct_count_of_source_ips_for_one_account():
    rule = {
        "name": "recovery-many-ips",
        "kind": "distinct",
        "field": "source.ip",
        "count": 3,
        "window": "1h",
        "where": {"event.action": "password_reset"},
        "group_by": ["user.name"],
    }
    feed = Feed(Engine(rules(rule)))
    assert feed.many([0, MINUTE], ip="1.1.1.1", action="password_reset", user__name="bob") == []
    assert feed.ev(2 * MINUTE, ip="2.2.2.2", action="password_reset", user__name="bob") == []
    assert feed.ev(3 * MINUTE, ip="3.3.3.3", action="password_reset", user__name="alice") == []
    fired = feed.ev(60 * MINUTE, ip="3.3.3.3", action="password_reset", user__name="bob")
    assert len(fired) == 1 and fired[0].group == ["bob"] and fired[0].window_start == "2026-11-30T09:00:00.000000Z"


GRANT_THEN_FLAG = {
    "name": "grant-then-flag",
    "kind": "sequence",
    "window": "1h",
    "steps": [
        {"where": {"event.action": "role_granted"}, "key": "user.target.name"},
        {"where": {"event.action": "feature_flag_changed"}, "key": "user.name"},
    ],
}


@pytest.mark.parametrize("gap, fires", [(60 * MINUTE, True), (60 * MINUTE + 1, False), (0, True)])
def test_a_sequence_at_its_deadline_fires_and_1ms_after_does_not(gap, fires):
    feed = Feed(Engine(rules(GRANT_THEN_FLAG)))
    assert feed.ev(0, action="role_granted", user__name="admin", user__target__name="mallory") == []
    fired = feed.ev(gap, action="feature_flag_changed", user__name="mallory")
    assert len(fired) == int(fires)
    if fires:
        assert fired[0].group == ["mallory"] and fired[0].window_start == "2026-11-30T09:00:00.000000Z"


def test_a_sequence_needs_the_same_key_and_the_order_in_event_time():
    feed = Feed(Engine(rules(GRANT_THEN_FLAG)))
    assert feed.ev(0, action="role_granted", user__target__name="mallory") == []
    assert feed.ev(MINUTE, action="feature_flag_changed", user__name="eve") == []
    # The flag change arrives first but happened after the grant: still the sequence.
    assert feed.ev(5 * MINUTE, action="feature_flag_changed", user__name="trent") == []
    fired = feed.ev(2 * MINUTE, action="role_granted", user__target__name="trent")
    assert len(fired) == 1 and fired[0].group == ["trent"]
    # A flag change before the grant is not the sequence.
    assert feed.ev(20 * MINUTE, action="feature_flag_changed", user__name="victor") == []
    assert feed.ev(21 * MINUTE, action="role_granted", user__target__name="victor") == []


def test_first_seen_ip_for_an_admin_learns_then_alerts_on_a_new_one():
    rule = {
        "name": "admin-new-ip",
        "kind": "first_seen",
        "field": "source.ip",
        "history": "30d",
        "where": {"user.roles": "admin"},
        "group_by": ["user.name"],
    }
    feed = Feed(Engine(rules(rule), lateness_ms=31 * 86_400_000))
    assert feed.ev(0, ip="1.1.1.1", user__name="root", user__roles=["admin"]) == []  # learning
    assert feed.ev(MINUTE, ip="1.1.1.1", user__name="root", user__roles=["admin"]) == []
    fired = feed.ev(2 * MINUTE, ip="6.6.6.6", user__name="root", user__roles=["admin"])
    assert len(fired) == 1 and fired[0].group == ["root"]
    assert feed.ev(3 * MINUTE, ip="6.6.6.6", user__name="root", user__roles=["admin"]) == []
    assert feed.ev(4 * MINUTE, ip="7.7.7.7", user__name="root", user__roles=["user"]) == []  # not an admin event
    # Seen 31 days ago is not seen within the 30-day history.
    assert len(feed.ev(31 * 86_400_000 + 2 * MINUTE, ip="1.1.1.1", user__name="root", user__roles=["admin"])) == 1


def test_off_hours_in_the_tenants_zone_across_a_dst_change():
    rule = {
        "name": "api-key-off-hours",
        "kind": "off_hours",
        "hours": "08:00-18:00",
        "where": {"event.action": "api_key_created"},
    }
    engine = Engine(rules(rule), lateness_ms=10**12, tz_of=lambda tenant: "Europe/Berlin")

    def at(utc: str):
        doc = {"@timestamp": utc, "organization": {"id": "acme"}, "event": {"id": utc, "action": "api_key_created"}}
        return engine.process(doc)

    # Before the change (CEST, UTC+2): 06:30 UTC is 08:30 local: business hours.
    assert at("2026-10-23T06:30:00Z") == []
    assert len(at("2026-10-23T05:30:00Z")) == 1  # 07:30 local
    # After it (CET, UTC+1) the same UTC time is 07:30 local: outside; 07:30 UTC is 08:30: inside.
    assert len(at("2026-10-26T06:30:00Z")) == 1
    assert at("2026-10-26T07:30:00Z") == []
    assert len(at("2026-10-24T12:00:00Z")) == 1  # a Saturday
    assert len(at("2026-10-26T17:00:00Z")) == 1  # 18:00 local: the end is exclusive


def test_match_rules_alert_per_event_with_ids_a_replay_repeats():
    rule = {"name": "integrity", "kind": "match", "where": {"event.action": "integrity_failure"}}
    first = Feed(Engine(rules(rule))).many([0, 1], action="integrity_failure")
    again = Feed(Engine(rules(rule))).many([0, 1], action="integrity_failure")
    assert len(first) == 2 and [a.alert_id for a in first] == [a.alert_id for a in again]
    assert first[0].alert_id != first[1].alert_id


def test_a_restart_mid_window_and_mid_throttle_changes_no_outcome():
    spec = {**FAILED_LOGINS, "throttle": "30m"}
    times = [i * 40 * SECOND for i in range(40)]  # a failure every 40 s for 26 minutes
    whole = Feed(Engine(rules(spec)))
    expected = [(a.alert_id, a.window_start) for a in whole.many(times)]
    assert len(expected) == 1
    for cut in (3, 5, 17, 33):  # mid-window, just after the alert, mid-throttle
        first = Feed(Engine(rules(spec)))
        got = first.many(times[:cut])
        state = orjson.loads(orjson.dumps(first.engine.snapshot()))  # as stored beside the cursor
        second = Feed(Engine(rules(spec), state=state))
        second.n = first.n
        got += second.many(times[cut:])
        assert [(a.alert_id, a.window_start) for a in got] == expected, cut


def test_rule_files_are_strict_with_file_and_line(tmp_path):
    from auditseal.errors import ConfigError
    from auditseal.rules.model import load_rules

    (tmp_path / "a.yaml").write_text("rules:\n  - name: x\n    kind: threshold\n    count: 5\n    window: 10 minutes\n")
    with pytest.raises(ConfigError) as bad:
        load_rules(tmp_path)
    assert str(bad.value).startswith(f"{tmp_path / 'a.yaml'}:5: rules.0.window: ")


def test_the_default_pack_loads_and_fires_the_brief_example_once():
    from pathlib import Path

    from auditseal.rules.model import load_rules

    pack = load_rules(Path(__file__).resolve().parent.parent / "configs" / "rules")
    assert {r.name for r in pack} >= {
        "failed-logins-from-one-ip",
        "brute-force-then-success",
        "integrity-failure",
        "sequence-gap",
        "api-key-change-off-hours",
        "grant-then-flag-change",
        "admin-action-from-new-ip",
        "account-recovery-from-many-ips",
    }
    feed = Feed(Engine(pack))
    fired = feed.many([i * MINUTE for i in range(8)], user__name="bob")  # 8 failures in 7 minutes
    assert [a.rule for a in fired] == ["failed-logins-from-one-ip"]
    fired = feed.ev(9 * MINUTE, outcome="success", user__name="bob")
    assert [a.rule for a in fired] == ["brute-force-then-success"]


def test_hostile_and_odd_events_are_counted_never_raise_and_never_group_wrongly():
    from pathlib import Path

    from auditseal.rules.model import load_rules

    engine = Engine(load_rules(Path(__file__).resolve().parent.parent / "configs" / "rules"))
    deep: dict = {}
    node = deep
    for _ in range(200):
        node["a"] = {}
        node = node["a"]
    odd = [
        {},
        {"@timestamp": 12345, "organization": {"id": "acme"}, "event": {"id": "x1"}},
        {"@timestamp": "yesterday", "organization": {"id": "acme"}, "event": {"id": "x2"}},
        {"@timestamp": "2026-11-30T09:00:00Z", "organization": {"id": {"nested": 1}}, "event": {"id": "x3"}},
        {"@timestamp": "2026-11-30T09:00:00Z", "organization": {"id": "acme"}, "event": "not an object"},
        {
            "@timestamp": "2026-11-30T09:00:00Z",
            "organization": {"id": "acme"},
            "event": {"id": "x5", "action": ["login"], "category": "authentication", "outcome": 1},
            "source": {"ip": 10**40},
            "user": {"name": deep, "roles": "admin"},
        },
        {
            "@timestamp": "2026-11-30T09:00:00Z",
            "organization": {"id": "acme"},
            "event": {"id": "x6", "category": ["authentication"], "outcome": "failure"},
            "source": {"ip": ["10.0.0.1", "10.0.0.2"]},
            "user": {"name": "\udcff bad surrogate"},
        },
        {
            "@timestamp": "9999-12-31T23:59:59.999999Z",
            "organization": {"id": "acme"},
            "event": {"id": "x7", "action": "api_key_created", "x" * 10_000: "y" * 1500},
        },
    ]
    for doc in odd:
        engine.process(doc)
    assert engine.stats["unusable", ""] == 5
    # A list-valued IP is no group value: skipped and counted, never grouped as one "IP".
    assert engine.stats["missing_group", "failed-logins-from-one-ip"] >= 1
    # A far-future event makes everything before it late, per tenant only.
    feed = Feed(engine)
    assert feed.ev(0) == [] and engine.stats["late", ""] >= 1
    assert feed.many([0, 1, 2, 3, 4], tenant="globex")[0].rule == "failed-logins-from-one-ip"


@given(
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
    st.integers(-23 * 3600, 23 * 3600),
    st.integers(0, 999_999),
)
def test_event_time_in_milliseconds_is_exact_for_any_moment_and_offset(moment, offset_s, offset_us):
    from auditseal.rules.engine import EPOCH, to_ms

    zone = dt.timezone(dt.timedelta(seconds=offset_s, microseconds=offset_us if abs(offset_s) < 23 * 3600 else 0))
    aware = moment.replace(tzinfo=zone)
    assert to_ms(aware) == (aware - EPOCH) // dt.timedelta(milliseconds=1)
