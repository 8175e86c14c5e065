"""``auditseal-agent test output``: can this agent deliver, with this config, to each collector?

One signed request per collector to its test endpoint (``wire.TEST_PATH``): the TLS
handshake both ways, the agent certificate, the HMAC key, the clock, and one event per tenant
the inputs name. The collector checks it like a batch and stores nothing. Each failure says
which part is wrong and what to look at; exit 0 when every collector passes, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import ssl
import time

import aiohttp

from auditseal import tls
from auditseal.errors import Halt
from auditseal.formats import wire
from auditseal.formats.event import canonical_bytes, event_id, utc_now_iso

from .config import AgentConfig

# What a collector's refusal means for the operator (reason → advice).
ADVICE = {
    "unknown_key": "the collector knows no such HMAC key id for this agent: add it to its hmac_keys_file",
    "bad_mac": "the HMAC secret differs from the collector's for this key id",
    "timestamp_skew": "this host's clock is too far from the collector's (NTP?)",
    "tenant_not_allowed": "a tenant the inputs name is not in this agent's certificate",
    "agent_mismatch": "agent.id differs from the agent id in the certificate",
    "bad_certificate": "the certificate names no agent (issue it with auditseal pki issue --agent)",
}


def sample_events(cfg: AgentConfig) -> list[dict]:
    tenants = sorted({i.tenant for i in cfg.inputs if i.tenant}) or ["(none)"]
    now = utc_now_iso()
    return [
        {
            "@timestamp": now,
            "event": {
                "action": "output_test",
                "category": ["configuration"],
                "type": ["info"],
                "outcome": "success",
                "sequence": n,
                "id": event_id(cfg.agent.id, n),
                "created": now,
            },
            "organization": {"id": tenant},
            "agent": {"id": cfg.agent.id},
            "message": "auditseal-agent test output (never stored)",
        }
        for n, tenant in enumerate(tenants, 1)
    ]


def describe_tls(exc: BaseException, cfg: AgentConfig) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS: the collector's certificate is not trusted ({exc.verify_message}): "
            f"does output.tls.ca ({cfg.output.tls.ca}) hold the CA that issued it, and does it name this host?"
        )
    reason = getattr(exc, "reason", None) or str(exc)
    return (
        f"TLS: the handshake failed ({reason}): does the collector's client_ca trust the CA that issued "
        f"output.tls.cert ({cfg.output.tls.cert})?"
    )


async def check_one(url: str, cfg: AgentConfig, key_id: str, key: bytes, ctx: ssl.SSLContext) -> tuple[bool, str]:
    events = sample_events(cfg)
    body = wire.encode_body([canonical_bytes(e) for e in events])
    headers = wire.build_headers(
        agent=cfg.agent.id,
        key_id=key_id,
        key=key,
        timestamp=int(time.time()),
        first_seq=1,
        last_seq=len(events),
        body=body,
        path=wire.TEST_PATH,
    )
    started = time.perf_counter()
    try:
        timeout = aiohttp.ClientTimeout(total=cfg.output.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.post(url.rstrip("/") + wire.TEST_PATH, data=body, headers=headers, ssl=ctx) as resp:
                status = resp.status
                answer = await resp.json(content_type=None) if resp.content_length != 0 else {}
    except aiohttp.ClientConnectorCertificateError as exc:
        return False, describe_tls(exc.certificate_error, cfg)
    except aiohttp.ClientSSLError as exc:
        return False, describe_tls(getattr(exc, "os_error", exc), cfg)
    except (aiohttp.ClientConnectionError, asyncio.TimeoutError, OSError) as exc:
        return False, f"cannot reach it: {type(exc).__name__}: {exc}"
    except ValueError:
        return False, f"HTTP {status}: the answer is not JSON (an older collector, or not a collector?)"
    millis = (time.perf_counter() - started) * 1000
    if status == 200 and isinstance(answer, dict) and answer.get("ok"):
        return True, (
            f"ok: TLS both ways, agent {answer.get('agent')!r}, HMAC key {key_id!r}, "
            f"tenants {', '.join(answer.get('tenants', []))}; round trip {millis:.0f} ms"
        )
    reason = answer.get("reason", "") if isinstance(answer, dict) else ""
    message = answer.get("error", "") if isinstance(answer, dict) else ""
    if status == 404:
        return False, "HTTP 404: this collector has no test endpoint (older than this agent?)"
    advice = ADVICE.get(reason, "")
    return False, f"HTTP {status} {reason}: {message}" + (f" — {advice}" if advice else "")


async def run(cfg: AgentConfig, load_key) -> int:
    try:
        key_id, key = load_key(cfg.output.hmac_key_file)
    except Halt as exc:
        print(f"FAIL  HMAC key: {exc}")
        return 1
    try:
        ctx = tls.client_context(str(cfg.output.tls.cert), str(cfg.output.tls.key), str(cfg.output.tls.ca))
    except (OSError, ssl.SSLError, ValueError) as exc:
        print(f"FAIL  TLS files: {type(exc).__name__}: {exc}")
        return 1
    failed = 0
    for url in cfg.output.collectors:
        ok, text = await check_one(url, cfg, key_id, key, ctx)
        print(f"{'ok  ' if ok else 'FAIL'}  {url}: {text}")
        failed += not ok
    return 1 if failed else 0
