import random

from agent.batching import BatchPolicy
from auditseal.backoff import Backoff, parse_retry_after

POLICY = BatchPolicy(max_events=3, max_bytes=100, max_age=1.0)


def test_due_by_count_bytes_or_age():
    assert POLICY.due_in(0, 0, 5.0) is None
    assert POLICY.due_in(3, 10, 0.0) == 0.0
    assert POLICY.due_in(1, 100, 0.0) == 0.0
    assert POLICY.due_in(1, 10, 0.25) == 0.75
    assert POLICY.due_in(1, 10, 2.0) == 0.0


def test_fits_always_takes_one_event_even_if_oversized():
    assert POLICY.fits(0, 0, 500)
    assert not POLICY.fits(1, 50, 60)
    assert not POLICY.fits(3, 10, 1)


def test_backoff_grows_caps_and_honours_retry_after():
    backoff = Backoff(initial=1.0, maximum=8.0)
    rand = random.Random(1)
    delays = [backoff.delay(n, rand=rand) for n in range(1, 8)]
    for n, d in enumerate(delays, 1):
        cap = min(8.0, 2 ** (n - 1))
        assert cap / 2 <= d <= cap
    assert backoff.delay(1, retry_after=30, rand=rand) == 30
    assert parse_retry_after("7") == 7.0 and parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
