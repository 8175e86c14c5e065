"""The ingest decision, branch by branch: what is journaled, what the agent is answered,
what is counted — everything the HTTP handler used to decide inline."""

import orjson
import pytest

from auditseal.errors import Rejected
from auditseal.formats.wire import BatchHeader
from auditseal.tls import PeerIdentity
from collector.ingest.accept import Hole, accept
from collector.ingest.answers import STATUS, headers_of, status_of
from collector.journal import decode_batch

WHO = PeerIdentity("web-1", frozenset({"acme", "globex"}))
NOW = "2026-11-28T10:00:00.000000Z"
OWN = "collector.c1"


def ev(seq, tenant="acme", **extra):
    doc = {
        "@timestamp": NOW,
        "event": {
            "action": "login",
            "category": ["authentication"],
            "outcome": "success",
            "sequence": seq,
            "created": NOW,
        },
        "organization": {"id": tenant},
        "agent": {"id": "web-1"},
        **extra,
    }
    return doc


def run(events, first=None, last=None, mark=0, own_mark=0, gaps=(), follows=None):
    first = first if first is not None else events[0]["event"]["sequence"]
    last = last if last is not None else events[-1]["event"]["sequence"]
    header = BatchHeader("web-1", "k1", 0, first, last, "v1=", gaps, follows)
    return accept(WHO, header, [orjson.dumps(e) for e in events], events, mark, OWN, own_mark, NOW)


def journaled(acceptance):
    """(agent, last seq, tenant, [sequence numbers or actions]) per write."""
    out = []
    for w in acceptance.writes:
        meta, lines = decode_batch(w.payload)
        docs = [orjson.loads(line) for line in lines]
        out.append(
            (
                w.agent,
                w.last_seq,
                meta.tenant,
                [d["event"]["sequence"] for d in docs],
                [d["event"]["action"] for d in docs],
            )
        )
    return out


# (name, events, mark, expected writes, accepted, duplicates, acked_seq, holes)
CASES = [
    ("all new, one tenant", [ev(1), ev(2), ev(3)], 0, [("web-1", 3, "acme", [1, 2, 3], ["login"] * 3)], 3, 0, 3, []),
    (
        "two tenants: one record each, order kept",
        [ev(1), ev(2, "globex"), ev(3)],
        0,
        [("web-1", 3, "acme", [1, 3], ["login"] * 2), ("web-1", 2, "globex", [2], ["login"])],
        3,
        0,
        3,
        [],
    ),
    ("a resend of what is stored: nothing journaled", [ev(1), ev(2)], 2, [], 0, 2, 2, []),
    (
        "a resend overlapping the mark: only the new part",
        [ev(1), ev(2), ev(3)],
        2,
        [("web-1", 3, "acme", [3], ["login"])],
        1,
        2,
        3,
        [],
    ),
    (
        "a hole after the mark: a gap event in the own stream",
        [ev(5), ev(6)],
        2,
        [("web-1", 6, "acme", [5, 6], ["login"] * 2), (OWN, 1, "acme", [1], ["sequence_gap"])],
        2,
        0,
        6,
        [Hole(3, 4, False)],
    ),
    (
        "holes inside the batch, each its own gap event",
        [ev(1), ev(3), ev(6)],
        0,
        [("web-1", 6, "acme", [1, 3, 6], ["login"] * 3), (OWN, 2, "acme", [1, 2], ["sequence_gap", "sequence_gap"])],
        3,
        0,
        6,
        [Hole(2, 2, False), Hole(4, 5, False)],
    ),
]


@pytest.mark.parametrize(
    "name, events, mark, writes, accepted, duplicates, acked, holes", CASES, ids=[c[0] for c in CASES]
)
def test_accept(name, events, mark, writes, accepted, duplicates, acked, holes):
    got = run(events, mark=mark)
    assert journaled(got) == writes
    assert (got.accepted, got.duplicates, got.acked_seq, got.holes) == (accepted, duplicates, acked, holes)
    assert got.answer() == {
        "accepted": accepted,
        "duplicates": duplicates,
        "acked_seq": acked,
        "rejected": [],
        "pipelining": True,
    }


def test_gap_events_are_numbered_after_the_own_streams_mark_and_name_the_hole():
    got = run([ev(4)], mark=1, own_mark=41)
    [_, own] = got.writes
    assert own.agent == OWN and own.last_seq == 42
    _, [line] = decode_batch(own.payload)
    gap = orjson.loads(line)
    assert gap["labels"] == {
        "gap_agent": "web-1",
        "gap_first": 2,
        "gap_last": 3,
        "gap_events": 2,
        "gap_declared": False,
    }
    assert gap["agent"]["id"] == OWN and gap["event"]["sequence"] == 42


def test_a_hole_the_agent_declared_lost_is_a_declared_gap():
    got = run([ev(5)], mark=1, gaps=((2, 4),))
    assert got.holes == [Hole(2, 4, True)]


def test_a_refused_event_takes_its_place_and_is_told_once():
    bad = ev(2, **{"@timestamp": "yesterday"})
    got = run([ev(1), bad, ev(3)])
    [(agent, last, tenant, seqs, actions)] = journaled(got)
    assert seqs == [1, 2, 3] and actions == ["login", "event_rejected", "login"]
    assert (got.accepted, got.duplicates, got.acked_seq) == (2, 0, 3)
    assert [(r.seq, r.reason) for r in got.told] == [(2, "bad_field")]  # @timestamp is not a time
    assert got.answer()["rejected"][0]["seq"] == 2
    again = run([ev(1), bad, ev(3)], mark=3)  # the resend: told already, nothing journaled
    assert again.writes == [] and again.told == [] and again.duplicates == 3


@pytest.mark.parametrize(
    "events, first, last, reason",
    [
        ([], 1, 1, "empty_batch"),
        ([ev(2), ev(1)], 1, 2, "bad_sequence"),
        ([ev(1), ev(9)], 1, 3, "bad_sequence"),
    ],
)
def test_what_refuses_the_whole_batch(events, first, last, reason):
    header = BatchHeader("web-1", "k1", 0, first, last, "v1=")
    with pytest.raises(Rejected) as bad:
        accept(WHO, header, [orjson.dumps(e) for e in events], events, 0, OWN, 0, NOW)
    assert bad.value.reason == reason and status_of(reason) == 400


def test_a_batch_sent_behind_one_not_stored_yet_is_refused_until_it_is():
    batch = [ev(6), ev(7)]
    for mark in (0, 3, 4):  # batch 5 not (wholly) stored: nothing journaled, no gap recorded
        with pytest.raises(Rejected) as early:
            run(batch, mark=mark, follows=5)
        assert early.value.reason == "too_early" and "follows sequence 5; stored through" in str(early.value)
    assert status_of("too_early") == 409 and headers_of("too_early") == {"Retry-After": "1"}
    got = run(batch, mark=5, follows=5)  # once it is: stored as any batch, no hole
    assert [seqs for _, _, _, seqs, _ in journaled(got)] == [[6, 7]] and got.holes == []
    assert got.answer()["pipelining"] is True
    resent = run(batch, mark=7, follows=5)  # a resend after a lost answer: duplicates, as always
    assert resent.writes == [] and resent.duplicates == 2 and resent.acked_seq == 7
    # What it follows is only an order: a declared loss before it is still a declared gap.
    assert run([ev(9)], mark=5, follows=5, gaps=((6, 8),)).holes == [Hole(6, 8, True)]


def test_the_answer_table():
    assert status_of("bad_mac") == 401 and status_of("tenant_not_allowed") == 403
    assert status_of("body_too_large") == 413 and status_of("length_required") == 411
    assert status_of("journal_full") == 503 and headers_of("journal_full") == {"Retry-After": "10"}
    assert headers_of("journal_unavailable") == {"Retry-After": "5"} and headers_of("bad_mac") is None
    assert status_of("client_disconnected") == 408
    assert status_of("a reason nobody listed") == 400
    assert all(400 <= s < 600 for s in STATUS.values())
