"""SIGHUP re-reads the agent's config without losing or repeating a line; a broken config
is refused and the running one kept."""

import signal
import time

import yaml

from auditseal.dev import samples
from tests.harness import assert_exactly_once, wait_for


def test_sighup_reload_adds_an_input_and_a_broken_config_is_refused(pipeline):
    pipeline.start_collector()
    pipeline.start_agent()
    pipeline.write_events(0, 2000, chunk=100, pause=0.01)
    wait_for(lambda: pipeline.index_count() > 0, 20, "first events")

    config = yaml.safe_load(pipeline.setup.agent_config.read_text())
    other = pipeline.setup.watch_dir.parent / "other"
    other.mkdir()
    config["inputs"].append({"type": "file", "name": "other", "paths": [str(other / "*.log")], "tenant": "globex"})
    pipeline.setup.agent_config.write_text(yaml.safe_dump(config))
    pipeline.agent.popen.send_signal(signal.SIGHUP)
    pipeline.write_events(2000, 1000, chunk=100, pause=0.01)
    (other / "app.log").write_bytes(samples.lines(3000, 500, "globex"))
    wait_for(lambda: "config reloaded" in pipeline.agent.output(), 10, "reload")

    pipeline.setup.agent_config.write_text(pipeline.setup.agent_config.read_text() + "bogus: 1\n")
    pipeline.agent.popen.send_signal(signal.SIGHUP)
    wait_for(lambda: "config reload refused" in pipeline.agent.output(), 10, "refusal")
    pipeline.write_events(3500, 500)
    pipeline.wait_indexed(4000)
    time.sleep(1)
    assert pipeline.agent.alive()
    assert_exactly_once(pipeline.index_rows(), range(4000))
    assert f"{pipeline.setup.agent_config}:" in pipeline.agent.output()  # names file:line:key
