"""`auditseal query` against a running pipeline, and `make run`'s script itself."""

import os
import subprocess
import sys
from pathlib import Path

import orjson

from tests.harness import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]


def query(pipeline, *args, token=None):
    env = {**os.environ, "AUDITSEAL_TOKEN": token or pipeline.setup.token}
    return subprocess.run(
        [sys.executable, "-m", "auditseal.cli", "query", "--collector", pipeline.setup.admin_url, *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def test_query_filters_by_tenant_user_action_and_time(pipeline):
    pipeline.start_collector()
    pipeline.start_agent()
    pipeline.write_events(0, 90)  # sample users and actions cycle: 5 users, 9 actions
    pipeline.write_events(90, 10, tenant="globex")
    pipeline.wait_indexed(100)

    done = query(pipeline, "--tenant", "acme", "--limit", "1000", "--format", "ndjson")
    assert done.returncode == 0, done.stderr
    docs = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert sorted(d["labels"]["n"] for d in docs) == list(range(90))
    stamps = [d["@timestamp"] for d in docs]
    assert stamps == sorted(stamps, reverse=True)  # newest first

    done = query(pipeline, "--tenant", "acme", "--user", "alice", "--action", "user_login", "--format", "ndjson")
    docs = [orjson.loads(line) for line in done.stdout.splitlines()]
    # alice is n % 5 == 0, user_login is n % 9 in (0, 1): n in {0, 10, 45, 55}
    assert sorted(d["labels"]["n"] for d in docs) == [0, 10, 45, 55]

    middle = sorted(stamps)[40]
    done = query(pipeline, "--tenant", "acme", "--since", middle, "--limit", "1000", "--format", "ndjson")
    assert len(done.stdout.splitlines()) == len([s for s in stamps if s >= middle])
    done = query(pipeline, "--tenant", "acme", "--until", middle, "--limit", "1000", "--format", "ndjson")
    assert len(done.stdout.splitlines()) == len([s for s in stamps if s < middle])

    done = query(pipeline, "--tenant", "globex", "--limit", "3")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["@timestamp", "organization.id", "event.action"]
    assert lines[-1] == "(3 events)" and all("globex" in line for line in lines[1:-1])


def test_query_refuses_a_bad_token_and_bad_parameters(pipeline):
    pipeline.start_collector()
    done = query(pipeline, "--tenant", "acme", token="not-the-token")
    assert done.returncode == 2
    assert "query refused (401): missing or invalid bearer token" in done.stderr
    done = query(pipeline, "--tenant", "acme", "--since", "last tuesday")
    assert done.returncode == 2 and "since is not an ISO 8601 time" in done.stderr
    assert pipeline.setup.token not in pipeline.collector.output()


def test_make_run_script_brings_up_a_queryable_pipeline(tmp_path):
    run_dir = tmp_path / "run"
    env = {
        **os.environ,
        "RUN_DIR": str(run_dir),
        "BIN": str(Path(sys.executable).parent),
        "INGEST_PORT": str(free_port()),
        "ADMIN_PORT": str(free_port()),
    }
    script = str(REPO / "scripts" / "run-local.sh")
    try:
        started = subprocess.run([script, "start"], capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
        assert started.returncode == 0, started.stdout + started.stderr
        assert "(5 events)" in started.stdout, started.stdout
        assert "The pipeline is running" in started.stdout
        # Events appended afterwards are queryable within seconds.
        with open(run_dir / "logs" / "app-audit.jsonl", "ab") as f:
            f.write(b'{"event":{"action":"break_glass","category":"iam"},"user":{"name":"zed"}}\n')
        token = (run_dir / "admin-token").read_text().strip()

        def found():
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "auditseal.cli",
                    "query",
                    "--collector",
                    f"http://127.0.0.1:{env['ADMIN_PORT']}",
                    "--token",
                    token,
                    "--tenant",
                    "acme",
                    "--user",
                    "zed",
                    "--format",
                    "ndjson",
                ],
                capture_output=True,
                text=True,
                timeout=30,
            )
            return done.stdout.strip()

        doc = orjson.loads(wait_for(found, 15, "the appended event in a query"))
        assert doc["event"]["action"] == "break_glass" and doc["organization"]["id"] == "acme"
    finally:
        stopped = subprocess.run([script, "stop"], capture_output=True, text=True, timeout=60, env=env)
    assert "stopped agent" in stopped.stdout and "stopped collector" in stopped.stdout
    for name in ("agent", "collector"):
        assert "Traceback" not in (run_dir / f"{name}.log").read_text()
