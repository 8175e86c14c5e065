"""What an attempt's answer means (pure): delivered, retried after a delay, or dead-lettered."""

import email.utils

from hypothesis import given
from hypothesis import strategies as st

from collector.channels.retry import RetryPolicy, backoff, decide, parse_retry_after

POLICY = RetryPolicy(initial=1.0, maximum=60.0, give_up_after=3600.0, max_retry_after=600.0)


def test_2xx_is_delivered_4xx_is_dead_at_once_and_3xx_is_never_followed():
    assert decide(202, None, 1, 0.0, 10.0, POLICY, 0.5).state == "delivered"
    for status in (400, 401, 403, 404, 410, 422):
        d = decide(status, None, 1, 0.0, 10.0, POLICY, 0.5)
        assert (d.state, d.reason) == ("dead", f"HTTP {status}: refused; not retried")
    assert decide(302, None, 1, 0.0, 10.0, POLICY, 0.5).state == "dead"


def test_429_408_5xx_and_no_answer_are_retried_with_growing_jittered_delays():
    for status in (429, 408, 500, 502, 503, 504, None):
        assert decide(status, None, 1, 0.0, 10.0, POLICY, 0.0).state == "pending"
    delays = [decide(500, None, n, 0.0, 10.0, POLICY, 0.0).next_at - 10.0 for n in range(1, 10)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]  # half of the ceiling, capped at 60
    assert abs(decide(500, None, 3, 0.0, 10.0, POLICY, 0.999).next_at - 10.0 - 3.998) < 1e-9


def test_retry_after_is_honoured_and_capped():
    assert decide(429, 7.0, 1, 0.0, 10.0, POLICY, 0.9).next_at == 17.0
    assert decide(503, 10_000.0, 1, 0.0, 10.0, POLICY, 0.9).next_at == 610.0


def test_past_give_up_after_a_retryable_failure_is_a_dead_letter():
    d = decide(503, None, 12, 0.0, 3599.0, POLICY, 0.5)
    assert d.state == "dead" and "gave up after 12 attempts" in d.reason


def test_retry_after_as_seconds_or_http_date():
    assert parse_retry_after("120", 0.0) == 120.0
    assert parse_retry_after(email.utils.formatdate(1_000_030.0, usegmt=True), 1_000_000.0) == 30.0
    assert parse_retry_after(email.utils.formatdate(999_000.0, usegmt=True), 1_000_000.0) == 0.0
    for nonsense in (None, "", "soon", "-5", "1.5e9x", "Mon, 99 Foo 2020"):
        assert parse_retry_after(nonsense, 0.0) is None


@given(st.integers(1, 10_000), st.floats(0, 1, exclude_max=True))
def test_backoff_stays_between_half_and_the_whole_ceiling(attempts, rand):
    delay = backoff(attempts, POLICY, rand)
    ceiling = min(POLICY.maximum, POLICY.initial * 2 ** min(attempts - 1, 62))
    assert ceiling / 2 <= delay <= ceiling
