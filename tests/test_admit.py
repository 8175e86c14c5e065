import hashlib

import orjson
import pytest

from auditseal.errors import Rejected
from auditseal.formats import storable
from auditseal.formats.event import REQUIRED_FROM_AGENT, event_id
from auditseal.formats.wire import BatchHeader
from auditseal.tls import PeerIdentity
from collector.ingest.admit import admit, by_tenant
from collector.ingest.answers import status_of
from collector.journal import BatchMeta
from collector.journal import Marks as Dedupe
from collector.sinks.stored import materialise

WHO = PeerIdentity("web-1", frozenset({"acme", "globex"}))
NOW = "2026-11-28T10:00:00.000000Z"


def ev(seq, tenant="acme", agent="web-1"):
    return {
        "@timestamp": NOW,
        "event": {
            "action": "login",
            "category": ["authentication"],
            "outcome": "success",
            "sequence": seq,
            "created": NOW,
        },
        "organization": {"id": tenant},
        "agent": {"id": agent},
    }


def header(first, last):
    return BatchHeader("web-1", "k1", 0, first, last, "v1=")


def check(events, first=1, last=3):
    out, refused = admit(WHO, header(first, last), [orjson.dumps(e) for e in events], events, NOW)
    assert not refused
    return out


def test_admitted_lines_are_kept_as_sent_and_grouped_by_tenant():
    events = [ev(1), ev(2, "globex"), ev(3)]
    out = check(events)
    assert out == [
        (1, "acme", orjson.dumps(events[0])),
        (2, "globex", orjson.dumps(events[1])),
        (3, "acme", orjson.dumps(events[2])),
    ]
    assert by_tenant(out) == {"acme": [(1, out[0][2]), (3, out[2][2])], "globex": [(2, out[1][2])]}


def test_the_stored_form_derives_id_and_ingest_time_deterministically():
    forged = ev(5)
    forged["event"]["id"] = "forged"
    meta = BatchMeta("web-1", "acme", NOW)
    doc, stored = materialise(meta, orjson.dumps(forged))
    assert doc["event"]["id"] == event_id("web-1", 5) and doc["event"]["ingested"] == NOW
    assert stored == orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    assert materialise(meta, orjson.dumps(forged))[1] == stored


@pytest.mark.parametrize(
    "events, status, reason",
    [
        ([ev(1, agent="db-2")], 403, "agent_mismatch"),
        ([ev(2), ev(2)], 400, "bad_sequence"),
        ([ev(1), ev(9)], 400, "bad_sequence"),
        ([{"event": {"action": "x"}}], 400, "bad_sequence"),
        ([], 400, "empty_batch"),
    ],
)
def test_what_is_wrong_with_the_batch_refuses_the_whole_batch(events, status, reason):
    with pytest.raises(Rejected) as bad:
        check(events)
    assert (status_of(bad.value.reason), bad.value.reason) == (status, reason)


def _nested(levels):
    value = 1
    for _ in range(levels):
        value = [value]
    return value


def _with(seq, **changes):
    doc = ev(seq)
    for path, value in changes.items():
        node = doc
        *parents, leaf = path.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return doc


@pytest.mark.parametrize(
    "bad, reason, home",
    [
        (_with(2, organization__id="initech"), "tenant_not_allowed", "acme"),
        (_with(2, organization__id="../etc"), "bad_field", "acme"),
        (_with(2, organization__id=7), "bad_field", "acme"),
        (_with(2, event__action=0), "bad_field", "acme"),
        (_with(2, event__outcome=False), "bad_field", "acme"),
        (_with(2, event__category=5), "bad_field", "acme"),
        (_with(2, event__action=""), "missing_field", "acme"),
        (_with(2, user="alice"), "bad_field", "acme"),
        (_with(2, user__name=["a"]), "bad_field", "acme"),
        (_with(2, labels__n=2**63), "bad_field", "acme"),
        ({**_with(2), "@timestamp": "2026-11-28T10:00:00Z"}, "bad_field", "acme"),
        ({**_with(2), "@timestamp": "0000-01-01T00:00:00.000000Z"}, "bad_field", "acme"),
        (_with(2, organization__id="globex", deep=_nested(18)), "too_deep", "globex"),
    ],
)
def test_a_bad_event_is_refused_alone_and_a_record_takes_its_place(bad, reason, home):
    events = [ev(1), bad, ev(3)]
    lines = [orjson.dumps(e) for e in events]
    out, refused = admit(WHO, header(1, 3), lines, events, NOW)
    assert [(r.seq, r.reason) for r in refused] == [(2, reason)]
    assert out[0] == (1, "acme", lines[0]) and out[2] == (3, "acme", lines[2])
    seq, tenant, record = out[1]
    doc = orjson.loads(record)
    assert (seq, tenant, doc["event"]["sequence"], doc["organization"]["id"]) == (2, home, 2, home)
    assert doc["event"]["action"] == "event_rejected" and doc["agent"]["id"] == "web-1"
    assert doc["auditseal"]["rejected"]["sha256"] == hashlib.sha256(lines[1]).hexdigest()
    assert doc["auditseal"]["rejected"]["reason"] == reason
    # The record itself is storable (it goes through the same sinks as any event).
    storable.check(doc, REQUIRED_FROM_AGENT)


def test_an_oversized_event_is_refused_alone():
    big = _with(2, message="x" * 300_000)
    events = [ev(1), big]
    out, refused = admit(WHO, header(1, 3), [orjson.dumps(e) for e in events], events, NOW)
    assert [(r.seq, r.reason) for r in refused] == [(2, "event_too_large")]


def test_a_certificate_without_tenants_refuses_the_batch():
    nobody = PeerIdentity("web-1", frozenset())
    with pytest.raises(Rejected) as bad:
        admit(nobody, header(1, 1), [orjson.dumps(ev(1))], [ev(1)], NOW)
    assert status_of(bad.value.reason) == 403


def test_dedupe_keeps_only_unseen_sequences_per_agent():
    dedupe = Dedupe()
    batch = [(1, b"a"), (2, b"b"), (3, b"c")]
    assert dedupe.fresh("web-1", batch) == batch
    assert dedupe.stored("web-1", 3) == 3
    assert dedupe.fresh("web-1", batch) == []
    assert dedupe.fresh("web-1", batch + [(4, b"d")]) == [(4, b"d")]
    assert dedupe.fresh("db-2", batch) == batch
    assert dedupe.stored("web-1", 2) == 3  # never moves back


def test_an_integer_past_64_bits_from_a_parser_is_kept_aside_as_text():
    # Parsers build ints with int(); a pid of 200 digits must not crash the move (a fuzz finding).
    doc = {"event": {"action": "a", "category": ["iam"]}, "process": {"pid": 10**200}}
    storable.repair(doc)
    assert doc["auditseal"]["invalid"] == [
        {"field": "process.pid", "value": "1" + "0" * 200, "reason": "integer outside the signed 64-bit range"}
    ]
