"""Stops are bounded, and one data directory never has two collectors."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness import Pipeline, free_port, wait_for

REPO = Path(__file__).resolve().parents[2]


def sigterm_takes(pipe: Pipeline) -> float:
    started = time.monotonic()
    os.kill(pipe.collector.pid, signal.SIGTERM)
    code = pipe.collector.popen.wait(timeout=15)
    took = time.monotonic() - started
    assert code in (0, 2), pipe.collector.output()[-2000:]
    assert "Traceback" not in pipe.collector.output()
    return took


def test_sigterm_ends_a_collector_whose_index_never_opens_within_10_s(tmp_path):
    pipe = Pipeline(
        tmp_path / "pipe",
        collector_overrides={
            "index": {"type": "elasticsearch", "hosts": [f"http://127.0.0.1:{free_port()}"], "request_timeout": 30}
        },
    )
    try:
        pipe.start_collector()
        pipe.start_agent()
        pipe.write_events(0, 200)
        wait_for(lambda: "sink cannot open" in pipe.collector.output(), 30, "the sink failing")
        time.sleep(2)  # well inside its retry loop
        assert sigterm_takes(pipe) < 10
    finally:
        pipe.stop()


@pytest.mark.es_faults
def test_sigterm_ends_a_collector_whose_index_went_away_mid_run_within_10_s(es, tmp_path):
    pipe = Pipeline(
        tmp_path / "pipe",
        collector_overrides={"index": {"type": "elasticsearch", "hosts": [es.url], "request_timeout": 30}},
    )
    try:
        pipe.start_collector()
        pipe.start_agent()
        pipe.write_events(0, 200)
        wait_for(lambda: len(es.documents()) >= 200, 30, "events indexed")
        es.stop()
        pipe.write_events(200, 200)
        wait_for(lambda: "sink failed" in pipe.collector.output(), 60, "the sink failing")
        time.sleep(2)
        assert sigterm_takes(pipe) < 10
    finally:
        pipe.stop()


def test_a_second_collector_on_a_held_data_directory_exits_2(pipeline):
    pipeline.start_collector()
    done = subprocess.run(
        [sys.executable, "-m", "collector.main", "run", "--config", str(pipeline.setup.collector_config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    assert "held by a running collector" in done.stderr and f"pid {pipeline.collector.pid}" in done.stderr
    assert "Traceback" not in done.stderr
    assert pipeline.collector.alive() and pipeline.http_ok("/healthz")


def collectors_on(run_dir: Path) -> list[int]:
    """Pids of live collectors whose command line names this run directory's config."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            any(b"auditseal-collector" in part for part in cmdline[:2])
            and str(run_dir / "collector.yaml").encode() in cmdline
        ):
            state = (entry / "stat").read_text().split()[2]
            if state != "Z":
                found.append(int(entry.name))
    return found


@pytest.mark.timeout(240)
def test_make_stop_then_make_run_never_leaves_two_collectors(tmp_path):
    run_dir = tmp_path / "run"
    env = {
        **os.environ,
        "RUN_DIR": str(run_dir),
        "BIN": str(Path(sys.executable).parent),
        "INGEST_PORT": str(free_port()),
        "ADMIN_PORT": str(free_port()),
    }
    script = str(REPO / "scripts" / "run-local.sh")

    def sh(*args):
        return subprocess.run([script, *args], capture_output=True, text=True, timeout=120, env=env, cwd=REPO)

    try:
        assert sh("start").returncode == 0
        [first] = collectors_on(run_dir)
        # A collector that does not answer SIGTERM (stopped here; stuck in the field).
        os.kill(first, signal.SIGSTOP)
        stopped = sh("stop")
        assert "did not stop in 15 s; killing it" in stopped.stdout and "stopped collector" in stopped.stdout
        assert collectors_on(run_dir) == [] and not (run_dir / "collector.pid").exists()
        again = sh("start")
        assert again.returncode == 0, again.stdout + again.stderr
        assert len(collectors_on(run_dir)) == 1
        # Starting while it runs replaces it (stop, then start): still one.
        assert sh("start").returncode == 0
        assert len(collectors_on(run_dir)) == 1
    finally:
        sh("stop")
    assert collectors_on(run_dir) == []
