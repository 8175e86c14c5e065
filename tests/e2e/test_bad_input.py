"""Bad input at the edges: each is refused with a clear reason, counted, and stores nothing."""

import asyncio
import ssl
import subprocess
import sys
import time

import aiohttp
import lz4.frame
import orjson
import pytest
import yaml

from auditseal import tls
from auditseal.dev import pki, samples
from auditseal.formats import wire
from auditseal.formats.event import utc_now_iso
from tests.harness import read_jsonl, wait_for

AGENT = "demo-agent"


def agent_event(seq: int, tenant: str = "acme") -> bytes:
    doc = samples.event(seq, tenant)
    doc["agent"] = {"id": AGENT}
    doc["event"].update(sequence=seq, created=utc_now_iso())
    return orjson.dumps(doc)


def agent_tls(pipeline, pki_dir=None, agent=AGENT) -> ssl.SSLContext:
    pki_dir = pki_dir or pipeline.root / "pki"
    return tls.client_context(
        str(pki_dir / f"agent-{agent}.crt"), str(pki_dir / f"agent-{agent}.key"), str(pipeline.root / "pki" / "ca.crt")
    )


def hmac_key(pipeline) -> tuple[str, bytes]:
    data = yaml.safe_load((pipeline.root / "pki" / f"agent-{AGENT}.hmac.yaml").read_text())
    return data["key_id"], bytes.fromhex(data["secret"])


def post(
    pipeline,
    body: bytes,
    first: int,
    last: int,
    *,
    key: bytes | None = None,
    ctx: ssl.SSLContext | None = None,
    follows: int | None = None,
    headers_over: dict | None = None,
) -> tuple[int, dict]:
    key_id, real_key = hmac_key(pipeline)
    headers = wire.build_headers(
        agent=AGENT,
        key_id=key_id,
        key=key or real_key,
        timestamp=int(time.time()),
        first_seq=first,
        last_seq=last,
        body=body,
        follows=follows,
    )
    headers.update(headers_over or {})

    async def go():
        connector = aiohttp.TCPConnector(ssl=ctx or agent_tls(pipeline))
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.post(pipeline.setup.ingest_url + wire.PATH, data=body, headers=headers) as resp:
                return resp.status, orjson.loads(await resp.read())

    return asyncio.run(go())


def rejects(pipeline, reason: str) -> float:
    return pipeline.collector_metrics().get(f'auditseal_collector_rejects_total{{reason="{reason}"}}', 0)


@pytest.fixture
def collector(pipeline):
    pipeline.start_collector()
    return pipeline


def test_a_good_batch_is_accepted_and_a_resent_one_adds_nothing(collector):
    body = wire.encode_body([agent_event(1), agent_event(2)])
    assert post(collector, body, 1, 2) == (
        200,
        {"accepted": 2, "duplicates": 0, "acked_seq": 2, "rejected": [], "pipelining": True},
    )
    assert post(collector, body, 1, 2) == (
        200,
        {"accepted": 0, "duplicates": 2, "acked_seq": 2, "rejected": [], "pipelining": True},
    )
    collector.wait_indexed(2)
    time.sleep(0.5)
    assert collector.index_count() == 2


@pytest.mark.parametrize("value", ["x", "-1", "0", "5", "6", "+4", "0_4", "4.0", "1e3", "99999999999999999999999"])
def test_a_follows_header_that_is_not_a_sequence_before_the_batch_is_400(collector, value):
    body = wire.encode_body([agent_event(5), agent_event(6)])
    status, answer = post(collector, body, 5, 6, headers_over={wire.H_FOLLOWS: value})
    assert (status, answer["reason"]) == (400, "bad_headers"), answer
    assert collector.index_count() == 0


def test_a_batch_claiming_to_follow_events_never_sent_waits_then_is_refused_and_stores_nothing(collector):
    body = wire.encode_body([agent_event(5), agent_event(6)])
    started = time.monotonic()
    status, answer = post(collector, body, 5, 6, follows=4)  # signed, but 1-4 never came
    assert (status, answer["reason"]) == (409, "too_early") and time.monotonic() - started >= 4.5
    metrics = collector.collector_metrics()
    assert metrics["auditseal_collector_batches_held_total"] == 1
    assert metrics['auditseal_collector_sequence_gap_events_total{kind="undeclared"}'] == 0
    # Sent alone afterwards (as the agent does), it is stored, with the hole recorded.
    assert post(collector, body, 5, 6)[0] == 200
    assert metrics["auditseal_collector_events_accepted_total"] == 0
    stored = wait_for(
        lambda: [seq for agent, seq, _ in collector.index_rows() if agent == AGENT] or None, 30, "the batch stored"
    )
    assert sorted(stored) == [5, 6]


def test_wrong_mac_is_401_and_stores_nothing(collector):
    body = wire.encode_body([agent_event(1)])
    status, answer = post(collector, body, 1, 1, key=b"\x00" * 32)
    assert status == 401 and answer["reason"] == "bad_mac"
    assert rejects(collector, "bad_mac") == 1
    assert collector.index_count() == 0
    assert "secret" not in collector.collector.output()


def test_certificate_from_another_ca_is_refused_in_the_tls_handshake(collector, tmp_path):
    rogue = tmp_path / "rogue-pki"
    pki.init_ca(rogue)
    pki.issue_agent(rogue, AGENT, ["acme"])
    body = wire.encode_body([agent_event(1)])
    with pytest.raises(aiohttp.ClientError):
        post(collector, body, 1, 1, ctx=agent_tls(collector, pki_dir=rogue))
    # Without any client certificate at all: refused too.
    bare = ssl.create_default_context(cafile=str(collector.root / "pki" / "ca.crt"))
    with pytest.raises(aiohttp.ClientError):
        post(collector, body, 1, 1, ctx=bare)
    metrics = collector.collector_metrics()
    refused = {k: v for k, v in metrics.items() if k.startswith("auditseal_collector_tls_handshake_failures_total")}
    assert refused == {
        'auditseal_collector_tls_handshake_failures_total{reason="certificate_verify_failed"}': 1,
        'auditseal_collector_tls_handshake_failures_total{reason="peer_did_not_return_a_certificate"}': 1,
    }
    assert "unable to get local issuer certificate" in collector.collector.output()
    assert collector.index_count() == 0
    assert collector.collector.alive()


def test_an_event_for_a_tenant_outside_the_certificate_is_refused_alone(collector):
    body = wire.encode_body([agent_event(1, "acme"), agent_event(2, "initech"), agent_event(3, "acme")])
    status, answer = post(collector, body, 1, 3)
    assert status == 200 and answer["acked_seq"] == 3 and answer["accepted"] == 2
    assert [(r["seq"], r["reason"]) for r in answer["rejected"]] == [(2, "tenant_not_allowed")]
    assert "initech" in answer["rejected"][0]["error"]
    docs = wait_for(lambda: len(d := collector.index_docs()) >= 3 and d, 20, "3 rows")
    by_seq = {d["event"]["sequence"]: d for d in docs}
    assert by_seq[2]["event"]["action"] == "event_rejected" and by_seq[2]["organization"]["id"] == "acme"
    assert {d["organization"]["id"] for d in docs} == {"acme"}, "nothing stored for initech"
    assert collector.collector_metrics()['auditseal_collector_events_rejected_total{reason="tenant_not_allowed"}'] == 1


def test_body_decompressing_past_the_ratio_cap_is_413(collector):
    # Valid NDJSON padded with whitespace: compresses ~250:1, past the cap of 100, and larger
    # than the floor under which no body counts as a bomb (9 MiB).
    bomb = lz4.frame.compress(agent_event(1) + b" " * (16 * 1024 * 1024) + b"\n")
    status, answer = post(collector, bomb, 1, 1)
    assert status == 413 and answer["reason"] == "decompressed_too_large"
    assert rejects(collector, "decompressed_too_large") == 1
    assert collector.index_count() == 0


def test_malformed_line_is_dead_lettered_and_its_neighbours_ship(pipeline):
    pipeline.start_collector()
    pipeline.start_agent()
    pipeline.write_events(0, 3)
    with open(pipeline.watched, "ab") as f:
        f.write(b'{"event": {"action": "user_login", "category": ["authentication"]}, oops\n')
        f.write(b'{"message": "no action"}\n')
    pipeline.write_events(3, 3)
    rows = pipeline.wait_indexed(6)
    assert sorted(n for _, _, n in rows) == list(range(6))
    dead = read_jsonl(pipeline.root / "agent" / "dead-letter" / "malformed.ndjson")
    assert [d["reason"] for d in dead] == ["bad_json", "missing_field"]
    assert dead[0]["line"].endswith("oops") and dead[0]["origin"] == str(pipeline.watched)
    assert "event.action" in dead[1]["message"]
    metrics = wait_for(pipeline.agent_metrics, 10, "agent metrics")
    assert metrics['auditseal_agent_malformed_lines_total{input="app-audit",reason="bad_json"}'] == 1
    assert metrics['auditseal_agent_malformed_lines_total{input="app-audit",reason="missing_field"}'] == 1


@pytest.mark.parametrize("program", ["agent", "collector"])
def test_config_with_an_unknown_key_exits_non_zero_naming_file_line_and_key(pipeline, program):
    config = pipeline.setup.agent_config if program == "agent" else pipeline.setup.collector_config
    text = config.read_text().splitlines()
    # Put a misspelt key inside a mapping section, at a known line.
    section = text.index("output:" if program == "agent" else "ingest:")
    text.insert(section + 1, "  bogus_key: 1")
    config.write_text("\n".join(text) + "\n")
    parent = text[section].rstrip(":")
    for command in ("run", "check-config"):
        done = subprocess.run(
            [sys.executable, "-m", f"{program}.main", command, "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2
        assert f"{config}:{section + 2}: {parent}.bogus_key: unknown key" in done.stderr, done.stderr
