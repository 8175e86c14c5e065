"""Every answer a collector can give, and what the shipper does with it."""

import orjson
import pytest

from agent.delivery import ACK, DEAD_LETTER, FAILOVER, RETRY, Decision, classify


def ok(acked, rejected=()):
    return orjson.dumps({"accepted": 1, "duplicates": 0, "acked_seq": acked, "rejected": list(rejected)})


REFUSED = [{"seq": 7, "reason": "bad_field", "error": "x"}]


@pytest.mark.parametrize(
    "status, body, action, acked",
    [
        (None, b"Cannot connect", FAILOVER, None),
        (200, ok(10), ACK, 10),
        (200, ok(12), ACK, 12),  # the collector had more already (a resend after a lost answer)
        (200, ok(9), RETRY, None),
        (200, b"<html>proxy</html>", FAILOVER, None),
        (200, b'{"acked_seq": "x"}', FAILOVER, None),
        (200, b"[]", FAILOVER, None),
        (400, b'{"error": "bad json", "reason": "bad_json"}', DEAD_LETTER, None),
        (403, b'{"error": "tenant", "reason": "tenant_not_allowed"}', DEAD_LETTER, None),
        (413, b"", DEAD_LETTER, None),
        (422, b"", DEAD_LETTER, None),
        (401, b'{"error": "bad mac", "reason": "bad_mac"}', RETRY, None),  # a key rotation in flight
        (408, b"", RETRY, None),
        (429, b"", RETRY, None),
        (503, b'{"error": "journal full", "reason": "journal_full"}', RETRY, None),
        (500, b"boom", FAILOVER, None),
        (502, b"", FAILOVER, None),
        (504, b"", FAILOVER, None),
    ],
)
def test_classify(status, body, action, acked):
    decision = classify(status, body, last_seq=10)
    assert decision.action == action
    assert decision.acked_seq == acked


def test_an_ack_carries_the_events_refused_alone():
    assert classify(200, ok(10, REFUSED), 10) == Decision(ACK, 10, tuple(REFUSED))


def test_an_ack_says_whether_the_collector_holds_batches_in_order():
    answer = {"accepted": 1, "duplicates": 0, "acked_seq": 10, "rejected": []}
    assert classify(200, orjson.dumps({**answer, "pipelining": True}), 10).pipelining is True
    assert classify(200, orjson.dumps(answer), 10).pipelining is False  # an older collector
    assert classify(200, orjson.dumps({**answer, "pipelining": "yes"}), 10).pipelining is False


def test_no_answer_keeps_what_the_connection_said():
    assert classify(None, b"Connection refused", 10).reason == "Connection refused"
    assert classify(None, b"", 10).reason == "no answer"


def test_reasons_are_the_collectors_error_text_bounded():
    assert classify(400, b'{"error": "event 3: not JSON"}', 10).reason == "event 3: not JSON"
    assert len(classify(500, b"x" * 10_000, 10).reason) == 200
    assert classify(200, ok(9), 10).reason == "acknowledged through 9, the batch ends at 10"
