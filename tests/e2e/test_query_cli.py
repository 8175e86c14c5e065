"""`auditseal query` against a running pipeline, and `make run`'s script itself."""

import os
import subprocess
import sys
from pathlib import Path

import orjson

from tests.harness import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]


def query(pipeline, *args, token=None):
    """The query command's output, less the audit events of earlier queries (each admin call
    is journaled into the tenant it read, as ``auditseal.query``)."""
    env = {**os.environ, "AUDITSEAL_TOKEN": token or pipeline.setup.token}
    done = subprocess.run(
        [sys.executable, "-m", "auditseal.cli", "query", "--collector", pipeline.setup.admin_url, *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    done.stdout = "".join(
        line
        for line in done.stdout.splitlines(keepends=True)
        if "auditseal.query" not in line and "collector." not in line
    )
    return done


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


def test_query_pages_through_all_counts_and_exports_with_every_filter(pipeline):
    pipeline.start_collector()
    pipeline.start_agent()
    pipeline.write_events(0, 180)  # 5 users, 9 actions; message "sample event <n>"
    pipeline.wait_indexed(180)
    sample = ("--q", "sample")  # the pipeline's own events, not the audit events of these calls

    done = query(pipeline, "--tenant", "acme", *sample, "--limit", "7", "--all", "--order", "asc", "--format", "ndjson")
    assert done.returncode == 0, done.stderr
    numbers = [orjson.loads(line)["labels"]["n"] for line in done.stdout.splitlines()]
    assert sorted(numbers) == list(range(180)) and len(numbers) == 180  # 26 pages, each event once

    done = query(pipeline, "--tenant", "acme", *sample, "--outcome", "failure", "--category", "iam", "--count")
    # failure + iam: authorization_denied only (n % 9 == 8)
    assert done.returncode == 0 and done.stdout.strip() == str(len([n for n in range(180) if n % 9 == 8]))

    done = query(pipeline, "--tenant", "acme", "--q", "sample event 42", "--source-ip", "10.0.0.43", "--export")
    assert [orjson.loads(line)["labels"]["n"] for line in done.stdout.splitlines()] == [42]

    done = query(pipeline, "--tenant", "acme", *sample, "--user", "bob", "--export", "--format", "csv")
    rows = done.stdout.splitlines()
    assert rows[0].startswith("@timestamp,event.id,organization.id") and len(rows) == 1 + 180 // 5
    assert all(",bob," in row for row in rows[1:])

    done = query(pipeline, "--tenant", "acme", "--format", "csv")
    assert done.returncode == 2 and "--format csv goes with --export" in done.stderr
    done = query(pipeline, "--tenant", "acme", "--category", "Not-A-Category", "--count")
    assert done.returncode == 2 and "query refused (400)" in done.stderr


def test_query_refuses_a_bad_token_and_bad_parameters(pipeline):
    pipeline.start_collector()
    done = query(pipeline, "--tenant", "acme", token="not-the-token")
    assert done.returncode == 2
    assert "query refused (401): invalid, expired or revoked token" in done.stderr
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
