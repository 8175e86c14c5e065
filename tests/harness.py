"""Real processes on loopback for end-to-end tests: a collector and an agent with a dev PKI."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import orjson
import yaml

from auditseal.dev import devsetup


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Proc:
    def __init__(self, args: list[str], log: Path):
        self.args = args
        self.log = log
        self.popen: subprocess.Popen | None = None
        self.env: dict[str, str] = {}  # extra environment for the next start

    def start(self) -> "Proc":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                self.args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **self.env}
            )
        return self

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no chance to flush or clean up."""
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout: float = 20) -> int:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
                raise AssertionError(f"{self.args[2]} did not stop on SIGTERM within {timeout}s") from None
        return self.popen.returncode if self.popen else 0

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Pipeline:
    """A collector and an agent set up like `make run`, on free ports under ``root``."""

    def __init__(
        self,
        root: Path,
        agent_overrides: dict | None = None,
        collector_overrides: dict | None = None,
        tenants=("acme", "globex"),
    ):
        self.agent_metrics_port = free_port()
        overrides = {"metrics_listen": f"127.0.0.1:{self.agent_metrics_port}", "batch": {"max_age": 0.2}}
        overrides.update(agent_overrides or {})
        self.setup = devsetup.setup(
            root,
            ingest_port=free_port(),
            admin_port=free_port(),
            tenants=tenants,
            agent_overrides=overrides,
            collector_overrides=collector_overrides,
        )
        self.root = self.setup.root
        self.collector = Proc(
            [sys.executable, "-m", "collector.main", "run", "--config", str(self.setup.collector_config)],
            self.root / "collector.log",
        )
        self.agent = Proc(
            [sys.executable, "-m", "agent.main", "run", "--config", str(self.setup.agent_config)],
            self.root / "agent.log",
        )
        self.index_path = self.root / "collector" / "index.sqlite"
        self.watched = self.setup.watch_dir / "app-audit.jsonl"

    # -- processes ------------------------------------------------------------------------
    def start_collector(self) -> None:
        self.collector.start()
        wait_for(lambda: self.http_ok("/healthz") or not self.collector.alive(), 20, "collector /healthz")
        assert self.collector.alive(), self.collector.output()

    def start_agent(self) -> None:
        self.agent.start()

    def edit_agent_config(self, **sections: dict) -> None:
        """Set keys of the agent's config file, section by section (``output={...}``)."""
        config = yaml.safe_load(self.setup.agent_config.read_text())
        for section, values in sections.items():
            config.setdefault(section, {}).update(values)
        self.setup.agent_config.write_text(yaml.safe_dump(config))

    def stop(self) -> None:
        for proc in (self.agent, self.collector):
            try:
                proc.stop()
            finally:
                proc.kill()

    # -- observation ----------------------------------------------------------------------
    def http_ok(self, path: str) -> bool:
        try:
            with urllib.request.urlopen(self.setup.admin_url + path, timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def metrics(self, url: str) -> dict[str, float]:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def collector_metrics(self) -> dict[str, float]:
        return self.metrics(self.setup.admin_url)

    def agent_metrics(self) -> dict[str, float]:
        return self.metrics(f"http://127.0.0.1:{self.agent_metrics_port}")

    def agent_metric(self, name: str) -> float:
        """One agent metric, 0 while the agent is not (yet) serving."""
        try:
            return self.agent_metrics().get(name, 0)
        except OSError:
            return 0

    def agent_serving(self) -> bool:
        try:
            return bool(self.agent_metrics())
        except OSError:
            return False

    def index_rows(self) -> list[tuple]:
        """(agent_id, seq, labels.n) of every indexed event but alert events (the alert sink's
        stream: ``alert_events`` has those) and the audit events of the test's own admin calls
        (``auditseal.query``: ``index_docs`` has those)."""
        if not self.index_path.exists():
            return []
        conn = sqlite3.connect(f"file:{self.index_path}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(
                "SELECT agent_id, seq, json_extract(doc, '$.labels.n') FROM events WHERE agent_id NOT LIKE '%.alerts' "
                "AND action != 'auditseal.query'"
            ).fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            conn.close()

    def index_docs(self) -> list[dict]:
        """Every indexed event document."""
        if not self.index_path.exists():
            return []
        conn = sqlite3.connect(f"file:{self.index_path}?mode=ro", uri=True, timeout=30)
        try:
            return [orjson.loads(doc) for (doc,) in conn.execute("SELECT doc FROM events")]
        except sqlite3.OperationalError:
            return []
        finally:
            conn.close()

    def alert_events(self) -> list[dict]:
        """The indexed audit events of alerts (``event.action`` alert_fired)."""
        return [d for d in self.index_docs() if d["event"]["action"] == "alert_fired"]

    def alerts(self, tenant: str = "acme", **filters) -> list[dict]:
        """``/v1/alerts`` for the tenant (filters: rule, severity, since, until, limit)."""
        query = urllib.parse.urlencode({"tenant": tenant, **filters})
        request = urllib.request.Request(
            f"{self.setup.admin_url}/v1/alerts?{query}", headers={"Authorization": f"Bearer {self.setup.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            return orjson.loads(resp.read())["alerts"]

    def index_count(self) -> int:
        return len(self.index_rows())

    # -- input ----------------------------------------------------------------------------
    def write_events(
        self, start: int, count: int, chunk: int = 200, pause: float = 0.0, tenant: str | None = None
    ) -> None:
        from auditseal.dev import samples

        with open(self.watched, "ab") as f:
            for first in range(start, start + count, chunk):
                f.write(samples.lines(first, min(chunk, start + count - first), tenant))
                f.flush()
                if pause:
                    time.sleep(pause)

    def write_events_in_background(self, start: int, count: int, chunk: int, pause: float):
        writer = threading.Thread(target=self.write_events, args=(start, count, chunk, pause))
        writer.start()
        return writer

    def wait_indexed(self, count: int, timeout: float = 90) -> list[tuple]:
        return wait_for(
            lambda: (rows := self.index_rows()) and len(rows) >= count and rows, timeout, f"{count} events in the index"
        )


def assert_exactly_once(rows: list[tuple], expected: range) -> None:
    """Every sample number in ``expected`` stored once; sequences unique and gap-free."""
    numbers = sorted(n for _, _, n in rows)
    counts = Counter(numbers)
    assert numbers == list(expected), (
        f"{len(numbers)} stored for {len(expected)} sent; "
        f"missing {sorted(set(expected) - set(numbers))[:10]}, "
        f"duplicated {sorted(n for n, c in counts.items() if c > 1)[:10]}"
    )
    seqs = sorted(seq for _, seq, _ in rows)
    assert seqs == list(range(1, len(expected) + 1)), "sequence numbers have holes or repeats"


def read_jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
