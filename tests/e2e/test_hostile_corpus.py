"""A corpus of hostile and merely odd lines through the real agent and collector.

Every bad line sits between good ones in one append. The test ends by counting: every good
neighbour stored exactly once, every bad line dead-lettered (agent), repaired with its value
kept under ``auditseal.invalid``, or refused alone by the collector (an ``event_rejected``
record in its place) — with its reason; both programs still up; no undeclared gap; and the
next 1,000 good events indexed and archived.
"""

import orjson

from auditseal.dev import samples
from auditseal.formats.crypto import SegmentCipher
from auditseal.storage.archive import decode_segment
from tests.e2e.test_integrity_cli import verify_archive
from tests.harness import read_jsonl, wait_for


def archived_numbers(pipeline) -> list[int]:
    """labels.n of every archived event that has one."""
    root = pipeline.root / "collector" / "archive"
    cipher = SegmentCipher.load(pipeline.root / "keys" / "archive.key")
    docs = [
        orjson.loads(line)
        for path in root.rglob("*.lz4")
        for line in decode_segment(path.read_bytes(), cipher, str(path.relative_to(root)))
    ]
    return [d["labels"]["n"] for d in docs if isinstance(d.get("labels"), dict) and "n" in d["labels"]]


def good(n: int) -> bytes:
    return orjson.dumps(samples.event(n)) + b"\n"


def nested(levels: int, open_: bytes, close: bytes, leaf: bytes = b"1") -> bytes:
    return open_ * levels + leaf + close * levels


def base(extra: bytes) -> bytes:
    return b'{"event":{"action":"x","category":"iam"},' + extra + b"}"


# (line, the agent's dead-letter reason)
DEAD = [
    (b"not json at all", "bad_json"),
    (b"[1,2,3]", "bad_json"),
    (base(b'"user":{"name":"caf\xe9 \xff\xfe"}'), "bad_json"),  # invalid UTF-8 (Latin-1 bytes)
    (b'{"event":{"category":"iam"}}', "missing_field"),
    (b'{"event":{"action":"x","category":"iam","outcome":{"a":1}}}', "bad_field"),
    (b'{"event":{"action":"x","category":"iam","outcome":false}}', "bad_field"),
    (b'{"event":{"action":{"a":1},"category":"iam"}}', "bad_field"),
    (b'{"event":{"action":["a"],"category":"iam"}}', "bad_field"),
    (b'{"event":{"action":0,"category":"iam"}}', "bad_field"),
    (b'{"event":{"action":"x","category":5}}', "bad_field"),
    (b'{"event":{"action":"x","category":[{"a":1}]}}', "bad_field"),
    (base(b'"@timestamp":1e20'), "bad_timestamp"),
    (base(b'"@timestamp":-1e12'), "bad_timestamp"),
    (base(b'"@timestamp":"0001-01-01T00:00:00+14:00"'), "bad_timestamp"),
    (base(b'"@timestamp":"9999-12-31T23:59:59-01:00"'), "bad_timestamp"),
    (base(b'"@timestamp":"yesterday"'), "bad_timestamp"),
    (base(b'"@timestamp":true'), "bad_timestamp"),
    (base(b'"x":' + nested(255, b"[", b"]")), "too_deep"),
    (base(b'"x":' + nested(1000, b"[", b"]")), "too_deep"),
    (base(b'"x":' + nested(1000, b'{"a":', b"}")), "too_deep"),
    (base(b'"organization":{"id":"bad tenant!"}'), "bad_field"),
    (base(b'"organization":{"id":"../etc"}'), "bad_field"),
    (base(b'"organization":{"id":7}'), "bad_field"),
    (base(b'"_id":"x"'), "bad_field_name"),
    (base(b'"":1'), "bad_field_name"),
    (base(b'"a..b":1'), "bad_field_name"),
    (base(b'"labels":{' + b",".join(b'"k%d":1' % i for i in range(1500)) + b"}"), "too_many_fields"),
    (base(b'"m":"' + b"y" * 300_000 + b'"'), "line_too_long"),
    (base(b'"m":"' + b"w" * 10_000_000 + b'"'), "line_too_long"),  # 10 MB, default settings
    (base(b'"m":"' + b"z" * (256 * 1024 - 200) + b'"'), "event_too_large"),
]
# (line, the field moved to auditseal.invalid): stored, the odd value kept as JSON text.
REPAIRED = [
    (base(b'"user":"alice"'), "user"),
    (base(b'"user":{"name":{"first":"a"}}'), "user.name"),
    (base(b'"user":{"name":["a","b"]}'), "user.name"),
    (base(b'"labels":{"big":18446744073709551615}'), "labels.big"),
    (base(b'"source":{"ip":5}'), "source.ip"),
    (base(b'"source":{"ip":"not-an-address"}'), "source.ip"),
    (base(b'"host":["h1"]'), "host"),
]
# Stored as they are: odd but valid.
ODD = [
    base(b'"@timestamp":"0999-01-01T00:00:00Z"'),
    base(b'"message":"\\u0000 nul, \\ud83d\\ude00 emoji, \\u202e bidi"'),
    base(b'"m":"' + b"a" * 200_000 + b'"'),  # compresses far past the ratio cap: no bomb
    b'{"event.action":"x","event.category":"iam","user.name":"dotted"}',
    # Addresses in forms the index stores canonically (the column is not the text as sent).
    base(b'"source":{"ip":"2001:0DB8:0000:0000:0000:0000:0000:0001"}'),
    base(b'"source":{"ip":"::FFFF:192.0.2.1"}'),
    base(rb'"message":"Anmeldung f\u00fcr J\u00fcrgen fehlgeschlagen \u2014 \u6771\u4eac user_42 x-y"'),
]


def test_every_bad_line_is_handled_alone_and_its_neighbours_flow(pipeline):
    # The odd events (all "iam") and their neighbours are sealed in two logs, and the auditor's
    # verify below compares the index with both.
    config = pipeline.setup.collector_config
    config.write_text(config.read_text() + "retention:\n  rules:\n    - name: iam\n      categories: [iam]\n")
    pipeline.start_collector()
    pipeline.start_agent()
    blob, n = b"", 0
    bad_lines = [line for line, _ in DEAD] + [line for line, _ in REPAIRED] + ODD
    bad_lines.append(base(b'"organization":{"id":"initech"}'))  # valid, but outside the certificate
    for line in bad_lines:
        blob += good(n) + line + b"\n"
        n += 1
    blob += good(n)
    n += 1
    with open(pipeline.watched, "ab") as f:
        f.write(blob)  # one append
    expected_rows = n + len(REPAIRED) + len(ODD) + 1  # + the event_rejected record
    wait_for(lambda: len(pipeline.index_docs()) >= expected_rows, 90, f"{expected_rows} events indexed")

    docs = pipeline.index_docs()
    numbers = sorted(d["labels"]["n"] for d in docs if "n" in d.get("labels", {}))
    assert numbers == list(range(n)), "every good neighbour exactly once"

    dead = read_jsonl(pipeline.root / "agent" / "dead-letter" / "malformed.ndjson")
    assert sorted(d["reason"] for d in dead) == sorted(reason for _, reason in DEAD)
    assert all(d["origin"] == str(pipeline.watched) and d["offset"] > 0 and d["message"] for d in dead)

    invalid = sorted(i["field"] for d in docs for i in d.get("auditseal", {}).get("invalid", []))
    assert invalid == sorted(field for _, field in REPAIRED)
    alice = next(d for d in docs if any(i["field"] == "user" for i in d.get("auditseal", {}).get("invalid", [])))
    assert orjson.loads(next(i["value"] for i in alice["auditseal"]["invalid"] if i["field"] == "user")) == "alice"
    assert any(d["@timestamp"].startswith("0999-01-01") for d in docs)
    assert any(d.get("user", {}).get("name") == "dotted" for d in docs)

    refused = [d for d in docs if d["event"]["action"] == "event_rejected"]
    assert len(refused) == 1 and refused[0]["organization"]["id"] == "acme"
    assert refused[0]["auditseal"]["rejected"]["reason"] == "tenant_not_allowed"
    told = read_jsonl(pipeline.root / "agent" / "dead-letter" / "rejected.ndjson")
    assert [(t["seq"], t["reason"]) for t in told] == [(refused[0]["event"]["sequence"], "tenant_not_allowed")]
    assert not list((pipeline.root / "agent" / "dead-letter").glob("batch-*")), "no batch dead-lettered"
    assert not [d for d in docs if d["event"]["action"] == "sequence_gap"], "no gap: every sequence accounted for"

    metrics = pipeline.collector_metrics()
    assert metrics['auditseal_collector_events_rejected_total{reason="tenant_not_allowed"}'] == 1
    agent_metrics = pipeline.agent_metrics()
    assert sum(v for k, v in agent_metrics.items() if k.startswith("auditseal_agent_malformed_lines_total")) == len(
        DEAD
    )
    assert agent_metrics['auditseal_agent_rejected_events_total{reason="tenant_not_allowed"}'] == 1

    # Still up, and the next 1,000 good events are indexed and archived.
    assert pipeline.agent.alive() and pipeline.collector.alive()
    pipeline.write_events(10_000, 1000)
    wait_for(lambda: len(pipeline.index_docs()) >= expected_rows + 1000, 60, "the next 1,000 indexed")
    wait_for(lambda: set(range(10_000, 11_000)) <= set(archived_numbers(pipeline)), 60, "the next 1,000 archived")
    archived = archived_numbers(pipeline)
    assert len(archived) == len(set(archived)), "nothing archived twice"
    # An auditor's verify of the live index with all of that in it: every row's columns and
    # words are what its own document gives, so not one finding.
    done = verify_archive(pipeline, "--index", f"sqlite:{pipeline.root / 'collector' / 'index.sqlite'}")
    assert done.returncode == 0 and " 0 findings" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    assert {p.name for p in (pipeline.root / "collector" / "archive" / "acme").iterdir()} == {"0", "iam"}
