"""How the agent's shipper answers each kind of collector reply, against a scripted HTTPS
endpoint with real mTLS: Retry-After honoured on 429/503, 5xx retried, a permanent 400 kept
in dead-letter/ (never dropped) while later batches flow, and failover to the next collector."""

import asyncio
import threading
import time

import pytest
from aiohttp import web

from auditseal import tls
from auditseal.formats import wire
from tests.harness import Pipeline, free_port, read_jsonl, wait_for


class ScriptedCollector:
    """Answers from ``script`` in order, then 200 acknowledging each whole batch."""

    def __init__(self, pipe: Pipeline, script: list[tuple[int, dict]]):
        self.script = list(script)
        self.requests: list[tuple[float, str, int]] = []
        self.gaps: list[str] = []  # the Auditseal-Gaps header of each request
        self.port = free_port()
        pki = pipe.root / "pki"
        self.ssl = tls.server_context(
            str(pki / "collector-local.crt"), str(pki / "collector-local.key"), str(pki / "ca.crt")
        )
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        batch = request.headers[wire.H_BATCH]
        self.gaps.append(request.headers.get("Auditseal-Gaps", ""))
        status, headers = self.script.pop(0) if self.script else (200, {})
        self.requests.append((time.monotonic(), batch, status))
        if status == 200:
            first, last = map(int, batch.split("-"))
            return web.json_response({"accepted": last - first + 1, "duplicates": 0, "acked_seq": last})
        return web.json_response({"error": f"scripted {status}"}, status=status, headers=headers)

    def _serve(self):
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post(wire.PATH, self.handle)
        runner = web.AppRunner(app)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port, ssl_context=self.ssl).start())
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self):
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def point_agent_at(pipe: Pipeline, urls: list[str]) -> None:
    pipe.edit_agent_config(output={"collectors": urls}, batch={"max_age": 0.2})


@pytest.fixture
def pipe(tmp_path):
    p = Pipeline(tmp_path / "pipe")
    yield p
    p.stop()


def test_retry_after_is_honoured_and_5xx_retried_until_accepted(pipe):
    script = [(503, {"Retry-After": "1"}), (429, {"Retry-After": "1"}), (500, {})]
    with ScriptedCollector(pipe, script) as collector:
        point_agent_at(pipe, [f"https://127.0.0.1:{collector.port}"])
        pipe.start_agent()
        pipe.write_events(0, 10)
        wait_for(lambda: any(s == 200 for _, _, s in collector.requests), 30, "acceptance")
        # The request is logged before the answer reaches the agent: wait, with the collector
        # still up, until the agent has recorded the acknowledgement.
        wait_for(
            lambda: pipe.agent_metric("auditseal_agent_events_acked_total") == 10,
            20,
            "the agent records the acknowledgement",
        )
        attempts = collector.requests[:4]
    assert [s for _, _, s in attempts] == [503, 429, 500, 200]
    assert len({batch for _, batch, _ in attempts}) == 1  # the very same batch each time
    assert attempts[1][0] - attempts[0][0] >= 0.95 and attempts[2][0] - attempts[1][0] >= 0.95
    assert pipe.agent_metric("auditseal_agent_events_acked_total") == 10


def test_a_permanent_refusal_is_dead_lettered_and_later_batches_flow(pipe):
    with ScriptedCollector(pipe, [(400, {})]) as collector:
        point_agent_at(pipe, [f"https://127.0.0.1:{collector.port}"])
        pipe.start_agent()
        pipe.write_events(0, 5)
        wait_for(lambda: collector.requests, 20, "first batch")
        time.sleep(0.5)
        pipe.write_events(5, 5)
        wait_for(lambda: pipe.agent_metric("auditseal_agent_events_acked_total") == 10, 20, "all acked")
    dead = read_jsonl(pipe.root / "agent" / "dead-letter" / "batch-1-5.ndjson")
    assert [d["labels"]["n"] for d in dead] == [0, 1, 2, 3, 4]
    # The next batch declares the dead-lettered range: the collector records a declared gap.
    assert collector.gaps[0] == "" and collector.gaps[1] == "1-5", collector.gaps
    assert pipe.agent_metric('auditseal_agent_dead_letter_batches_total{status="400"}') == 1
    assert "collector refused batch for good; dead-lettered" in pipe.agent.output()


def test_failover_to_the_next_collector(pipe):
    dead_url = f"https://127.0.0.1:{free_port()}"  # nothing listens there
    point_agent_at(pipe, [dead_url, pipe.setup.ingest_url])
    pipe.start_collector()
    pipe.start_agent()
    pipe.write_events(0, 300)
    rows = pipe.wait_indexed(300)
    assert len(rows) == 300
    assert "collector unreachable" in pipe.agent.output() and dead_url in pipe.agent.output()
