import random

from hypothesis import given
from hypothesis import strategies as st

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


def test_a_batch_is_ready_when_the_next_event_would_not_fit():
    # 60 + 50 > 100: waiting for max_age cannot make the 50-byte event fit, so ship now.
    assert POLICY.ready(1, 60, 50) and POLICY.due_in(1, 60, 0.0, next_size=50) == 0.0
    assert not POLICY.ready(1, 50, 50) and POLICY.due_in(1, 50, 0.0, next_size=50) == 1.0
    assert not POLICY.ready(1, 60) and POLICY.due_in(1, 60, 0.25) == 0.75  # nothing waiting: the age bound
    assert not POLICY.ready(0, 0, 500)  # an empty batch takes any event, even an oversized one


@given(
    sizes=st.lists(st.sampled_from([1, 32, 33, 49, 50, 51, 99, 100, 101, 250]), min_size=1, max_size=60),
    max_events=st.integers(1, 6),
)
def test_greedy_batches_never_wait_for_age_while_events_wait(sizes, max_events):
    """The shipper's loop over a backlog (all spooled): each batch takes events while they fit
    and ships at once when full or when the next does not fit; only the last may wait."""
    policy = BatchPolicy(max_events=max_events, max_bytes=100, max_age=1.0)
    backlog, batches = list(sizes), []
    while backlog:
        batch, size = [], 0
        while backlog and policy.fits(len(batch), size, backlog[0]):
            size += backlog[0]
            batch.append(backlog.pop(0))
        next_size = backlog[0] if backlog else None
        due = policy.due_in(len(batch), size, 0.0, next_size)
        assert due == 0.0 or not backlog, (batch, backlog)
        assert len(batch) <= max_events and (size <= 100 or len(batch) == 1)
        batches.append(batch)
    assert [s for b in batches for s in b] == sizes
