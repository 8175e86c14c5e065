import orjson
import pytest

from auditseal.errors import Rejected
from auditseal.event import event_id
from auditseal.tls import PeerIdentity
from auditseal.wire import BatchHeader
from collector.admit import Dedupe, admit, by_tenant
from collector.journal import BatchMeta
from collector.stored import materialise

WHO = PeerIdentity("web-1", frozenset({"acme", "globex"}))
NOW = "2026-11-28T10:00:00.000000Z"


def ev(seq, tenant="acme", agent="web-1"):
    return {"@timestamp": NOW, "event": {"action": "login", "category": ["authentication"],
                                         "outcome": "success", "sequence": seq, "created": NOW},
            "organization": {"id": tenant}, "agent": {"id": agent}}


def header(first, last):
    return BatchHeader("web-1", "k1", 0, first, last, "v1=")


def check(events, first=1, last=3):
    return admit(WHO, header(first, last), [orjson.dumps(e) for e in events], events)


def test_admitted_lines_are_kept_as_sent_and_grouped_by_tenant():
    events = [ev(1), ev(2, "globex"), ev(3)]
    out = check(events)
    assert out == [(1, "acme", orjson.dumps(events[0])), (2, "globex", orjson.dumps(events[1])),
                   (3, "acme", orjson.dumps(events[2]))]
    assert by_tenant(out) == {"acme": [(1, out[0][2]), (3, out[2][2])], "globex": [(2, out[1][2])]}


def test_the_stored_form_derives_id_and_ingest_time_deterministically():
    forged = ev(5)
    forged["event"]["id"] = "forged"
    meta = BatchMeta("web-1", "acme", NOW)
    doc, stored = materialise(meta, orjson.dumps(forged))
    assert doc["event"]["id"] == event_id("web-1", 5) and doc["event"]["ingested"] == NOW
    assert stored == orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    assert materialise(meta, orjson.dumps(forged))[1] == stored


@pytest.mark.parametrize("events, status, reason", [
    ([ev(1, "initech")], 403, "tenant_not_allowed"),
    ([ev(1, agent="db-2")], 403, "agent_mismatch"),
    ([ev(1, "../etc")], 400, "bad_tenant"),
    ([ev(2), ev(2)], 400, "bad_sequence"),
    ([ev(1), ev(9)], 400, "bad_sequence"),
    ([{"event": {"action": "x"}}], 400, "missing_field"),
    ([], 400, "empty_batch"),
    ([{**ev(1), "@timestamp": "2026-11-28T10:00:00Z"}], 400, "bad_timestamp"),
])
def test_one_bad_event_refuses_the_whole_batch(events, status, reason):
    with pytest.raises(Rejected) as bad:
        check(events)
    assert (bad.value.status, bad.value.reason) == (status, reason)


def test_dedupe_keeps_only_unseen_sequences_per_agent():
    dedupe = Dedupe()
    batch = [(1, b"a"), (2, b"b"), (3, b"c")]
    assert dedupe.fresh("web-1", batch) == batch
    assert dedupe.stored("web-1", 3) == 3
    assert dedupe.fresh("web-1", batch) == []
    assert dedupe.fresh("web-1", batch + [(4, b"d")]) == [(4, b"d")]
    assert dedupe.fresh("db-2", batch) == batch
    assert dedupe.stored("web-1", 2) == 3  # never moves back
