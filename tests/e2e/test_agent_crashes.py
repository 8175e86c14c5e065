"""SIGKILL the agent at 50 random moments (and let it die at chosen points: mid-read,
mid-append with a torn write, after the collector's 200 before it is recorded, between
ledger and segment deletion) while 12,000 events flow: every event stored exactly once."""

import random
import threading
import time

from tests.harness import assert_exactly_once, wait_for

TOTAL = 12_000
CRASHPOINTS = "after_read:0.003,mid_append:0.1,after_send:0.03,after_ack_before_delete:0.03"


def test_fifty_kills_and_chosen_crash_points_lose_and_repeat_nothing(pipeline):
    rand = random.Random(20261128)
    pipeline.start_collector()
    pipeline.agent.env = {"AUDITSEAL_CRASHPOINTS": CRASHPOINTS}
    pipeline.start_agent()
    # ~300 events/s for ~40 s: every kill lands while events flow.
    writer = threading.Thread(target=pipeline.write_events, args=(0, TOTAL, 30, 0.1))
    writer.start()
    kills = deaths = 0
    while kills < 50:
        # Kill only a running agent (not one still importing Python), at a random moment.
        wait_for(lambda: pipeline.agent_serving() or not pipeline.agent.alive(), 15, "agent up")
        time.sleep(rand.uniform(0.0, 0.4))
        if pipeline.agent.alive():
            pipeline.agent.kill()
            kills += 1
        else:
            deaths += 1  # it died at a crash point by itself
        pipeline.start_agent()
    writer.join()
    pipeline.agent.kill()
    pipeline.agent.env = {}
    pipeline.start_agent()
    pipeline.wait_indexed(TOTAL, timeout=120)
    time.sleep(1.5)
    assert_exactly_once(pipeline.index_rows(), range(TOTAL))
    assert kills == 50
    log = pipeline.agent.output()
    assert "torn tail cut" in log or "uncommitted events" in log, "no crash landed mid-append"
    assert deaths > 0, "no crash point was ever hit"
