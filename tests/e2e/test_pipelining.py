"""Batches in flight (``output.pipelining``): the agent sends the next batch while the collector
stores the one before, each on its own connection, and never more than it is set to; only
to a collector that said it keeps them in order; and a batch that overtakes the one it
follows waits for it in the real collector (or, when it may not wait, is refused, resent and
stored once), in order, with no gap. The fleet's case (a load balancer in front of collectors
on one NATS journal) is in ``test_fleet.py``."""

import asyncio
import random
import threading
import time

import pytest
from aiohttp import web

from auditseal import tls
from auditseal.formats import wire
from tests.harness import Pipeline, assert_exactly_once, free_port, wait_for
from tests.relays import LoopThread, Relay


class SlowCollector(LoopThread):
    """Answers every batch after ``delay`` seconds, acknowledging it whole; says it holds
    batches in order when ``pipelining``; answers 409 to the batches sent behind another
    whose turn (1 for the first such batch) ``too_early`` names."""

    def __init__(self, pipe: Pipeline, delay: float, pipelining: bool, too_early=()):
        self.delay, self.pipelining, self.too_early = delay, pipelining, set(too_early)
        self.behind = 0  # batches sent behind another so far
        self.requests: list[dict] = []  # batch, follows, status, arrived, answered
        self.port = free_port()
        pki = pipe.root / "pki"
        self.ssl = tls.server_context(
            str(pki / "collector-local.crt"), str(pki / "collector-local.key"), str(pki / "ca.crt")
        )
        super().__init__()

    async def handle(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        await request.read()
        batch = request.headers[wire.H_BATCH]
        follows = request.headers.get(wire.H_FOLLOWS)
        first, last = map(int, batch.split("-"))
        self.behind += follows is not None
        status = 409 if follows is not None and self.behind in self.too_early else 200
        await asyncio.sleep(self.delay)
        self.requests.append(
            {
                "batch": (first, last),
                "follows": follows,
                "status": status,
                "arrived": arrived,
                "answered": time.monotonic(),
            }
        )
        if status == 409:
            return web.json_response({"error": "too early", "reason": "too_early"}, status=409)
        answer = {"accepted": last - first + 1, "duplicates": 0, "acked_seq": last, "rejected": []}
        return web.json_response({**answer, "pipelining": True} if self.pipelining else answer)

    def most_at_once(self) -> int:
        """The most requests that were being answered at the same moment."""
        edges = sorted([(r["arrived"], 1) for r in self.requests] + [(r["answered"], -1) for r in self.requests])
        level = peak = 0
        for _, step in edges:
            level += step
            peak = max(peak, level)
        return peak

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(wire.PATH, self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, ssl_context=self.ssl).start()

    async def cleanup(self) -> None:
        await self.runner.cleanup()


def configure(pipe: Pipeline, urls: list[str], pipelining: int) -> None:
    pipe.edit_agent_config(
        output={"collectors": urls, "pipelining": pipelining}, batch={"max_age": 0.2, "max_events": 50}
    )


def acked(pipe: Pipeline, count: int) -> None:
    wait_for(lambda: pipe.agent_metric("auditseal_agent_events_acked_total") == count, 60, f"{count} acknowledged")


def ship_to(pipe: Pipeline, collector: SlowCollector, pipelining: int, events: int) -> float:
    """``events`` through the agent to ``collector``; when they were all seen acknowledged."""
    configure(pipe, [f"https://127.0.0.1:{collector.port}"], pipelining)
    pipe.start_agent()
    pipe.write_events(0, events)
    acked(pipe, events)
    return time.monotonic()


def test_batches_travel_while_the_one_before_is_answered_within_the_bound(pipeline):
    with SlowCollector(pipeline, delay=0.3, pipelining=True) as collector:
        ship_to(pipeline, collector, 3, 1000)
    requests = sorted(collector.requests, key=lambda r: r["batch"])
    # The first goes alone: the collector has not yet said it keeps batches in order.
    assert requests[0]["follows"] is None
    assert collector.most_at_once() == 3  # the bound, reached and never passed
    behind = [r for r in requests if r["follows"] is not None]
    assert len(behind) >= 10
    last_of = {r["batch"][1] + 1: r["batch"][1] for r in requests}  # first seq → last of the batch before
    assert all(int(r["follows"]) == last_of[r["batch"][0]] for r in behind)  # always the one just before
    assert [r["batch"] for r in requests] == sorted({r["batch"] for r in requests})  # each sent once
    assert pipeline.agent_metric("auditseal_agent_batches_in_flight") == 0


def test_no_batch_goes_behind_another_to_a_collector_that_did_not_say_it_keeps_them_in_order(pipeline):
    with SlowCollector(pipeline, delay=0.2, pipelining=False) as collector:
        recorded = ship_to(pipeline, collector, 3, 400)
    assert len(collector.requests) >= 8
    assert all(r["follows"] is None for r in collector.requests)
    # The last answer is recorded when it comes (not at the next spool write or timeout).
    assert recorded - max(r["answered"] for r in collector.requests) < 0.6
    assert collector.most_at_once() == 1


def test_a_batch_refused_too_early_is_resent_alone_once_the_one_before_is_acknowledged(pipeline):
    with SlowCollector(pipeline, delay=0.3, pipelining=True, too_early={2, 4}) as collector:
        ship_to(pipeline, collector, 2, 400)
    refused = [r["batch"][0] for r in collector.requests if r["status"] == 409]
    assert len(refused) == 2
    for first in refused:
        sent = [r for r in collector.requests if r["batch"][0] == first]
        assert [(r["status"], r["follows"] is None) for r in sent] == [(409, False), (200, True)]
        before = next(r for r in collector.requests if r["batch"][1] == first - 1 and r["status"] == 200)
        assert sent[1]["arrived"] >= before["answered"]  # resent after the one it follows was acked
    assert not (pipeline.root / "agent" / "dead-letter").exists() or not any(
        (pipeline.root / "agent" / "dead-letter").iterdir()
    )
    assert pipeline.agent_metric('auditseal_agent_batches_total{result="409"}') == 2


def ship_through_a_delay_line(pipeline: Pipeline, delay: float, events: int = 1000) -> list[tuple]:
    """``events`` shipped with 3 batches in flight through a relay that holds the first
    connection's bytes ``delay`` seconds: the batches it carries arrive after later ones."""
    ingest_port = int(pipeline.setup.ingest_url.rsplit(":", 1)[1])
    with Relay([ingest_port], first_delay=delay) as relay:
        configure(pipeline, [f"https://127.0.0.1:{relay.port}"], pipelining=3)
        pipeline.start_collector()
        pipeline.start_agent()
        pipeline.write_events(0, events)
        rows = pipeline.wait_indexed(events)
        acked(pipeline, events)
        assert relay.connections >= 2
    assert_exactly_once(rows, range(events))
    collector = pipeline.collector_metrics()
    assert collector['auditseal_collector_sequence_gap_events_total{kind="undeclared"}'] == 0
    assert collector['auditseal_collector_sequence_gap_events_total{kind="declared"}'] == 0
    assert collector["auditseal_collector_events_duplicate_total"] == 0
    return rows


def test_a_batch_that_overtakes_the_one_it_follows_waits_for_it_and_is_stored_after_it(pipeline):
    ship_through_a_delay_line(pipeline, delay=0.5)
    collector = pipeline.collector_metrics()
    assert collector["auditseal_collector_batches_held_total"] >= 1  # it did overtake, and waited
    assert collector['auditseal_collector_rejects_total{reason="too_early"}'] == 0
    assert pipeline.agent_metric('auditseal_agent_batches_total{result="409"}') == 0


@pytest.fixture
def impatient(tmp_path):
    p = Pipeline(tmp_path / "pipe", collector_overrides={"ingest": {"follows_wait": 0}})
    yield p
    p.stop()


def test_a_batch_that_overtakes_the_one_it_follows_and_may_not_wait_is_refused_resent_and_stored_once(impatient):
    ship_through_a_delay_line(impatient, delay=0.5)
    collector = impatient.collector_metrics()
    assert collector['auditseal_collector_rejects_total{reason="too_early"}'] >= 1
    assert impatient.agent_metric('auditseal_agent_batches_total{result="409"}') >= 1


def test_kills_of_agent_and_collector_with_batches_in_flight_lose_and_repeat_nothing(tmp_path):
    """Three batches in flight while the agent is SIGKILLed 20 times (and dies at chosen
    points: after a 200 not yet recorded, between ledger and deletion) and the collector 5
    times: every event stored exactly once, and no gap recorded."""
    pipe = Pipeline(
        tmp_path / "pipe",
        agent_overrides={"output": {"pipelining": 3}, "batch": {"max_age": 0.1, "max_events": 40}},
    )
    try:
        rand = random.Random(20261207)
        pipe.start_collector()
        pipe.agent.env = {"AUDITSEAL_CRASHPOINTS": "after_send:0.03,after_ack_before_delete:0.03"}
        pipe.start_agent()
        writer = threading.Thread(target=pipe.write_events, args=(0, 6000, 30, 0.1))
        writer.start()
        for kill in range(25):
            wait_for(lambda: pipe.agent_serving() or not pipe.agent.alive(), 15, "agent up")
            time.sleep(rand.uniform(0.1, 0.5))
            if kill % 5 == 4:
                pipe.collector.kill()
                pipe.start_collector()
            else:
                pipe.agent.kill()
                pipe.start_agent()
        writer.join()
        pipe.agent.kill()
        pipe.agent.env = {}
        pipe.start_agent()
        rows = pipe.wait_indexed(6000, timeout=120)
        time.sleep(1.0)
        # Counters restart with the collector: the gap events themselves would be in the index.
        assert [d["message"] for d in pipe.index_docs() if d["event"]["action"] == "sequence_gap"] == []
        assert_exactly_once(pipe.index_rows(), range(6000))
        assert len(rows) >= 6000
    finally:
        pipe.stop()
