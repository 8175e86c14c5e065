#!/usr/bin/env python3
"""Side by side on one machine, in interleaved rounds: rsyslog (imfile → omfwd over TLS to a
loopback receiver) and auditseal (agent → collector over mTLS), each shipping the same JSON
audit lines appended to a watched file, at several event sizes.

auditseal runs twice per round: with the shipped batch settings and with hand-tuned ones
(``batch.max_bytes`` 8 MiB, ``max_events`` 20,000). Prints, per size, the medians of lines/s,
shipper CPU-µs per line, lines per shipper CPU-second and peak RSS, and the ratios against
rsyslog measured in the same run.

    .venv/bin/python bench/compare.py [--lines 100000] [--sizes 300,450,1200] [--rounds 3]

Needs rsyslog with its OpenSSL stream driver (Debian: rsyslog rsyslog-openssl).
"""

from __future__ import annotations

import argparse
import asyncio
import select
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditseal.dev import devsetup, samples  # noqa: E402
from bench.e2e import _ok, _program_pid, cpu_seconds, free_port, metric, peak_rss_mb, wait  # noqa: E402

TUNED = {"batch": {"max_bytes": 8 << 20, "max_events": 20_000}}
RSYSLOG_CONF = """\
global(workDirectory="{work}" maxMessageSize="64k"
       DefaultNetstreamDriver="ossl" DefaultNetstreamDriverCAFile="{ca}"
       DefaultNetstreamDriverCertFile="{cert}" DefaultNetstreamDriverKeyFile="{key}")
module(load="imfile" mode="inotify")
input(type="imfile" File="{watched}" Tag="audit" ruleset="ship" freshStartTail="off")
ruleset(name="ship" queue.type="LinkedList" queue.size="200000") {{
  action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" StreamDriver="ossl"
         StreamDriverMode="1" StreamDriverAuthMode="x509/certvalid")
}}
"""


# -- the loopback receiver rsyslog ships to (a process of its own: its CPU is not rsyslog's) --
def sink_main(port: int, cert: str, key: str, ca: str) -> None:
    """Counts lines received over TLS (client certificate required); prints the total each
    time it grows by a 10,000 and when a connection closes."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED
    total = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal total
        while chunk := await reader.read(1 << 16):
            before = total
            total += chunk.count(b"\n")
            if total // 10_000 != before // 10_000:
                print(total, flush=True)
        print(total, flush=True)
        writer.close()

    async def run() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", port, ssl=context)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(run())


class Sink:
    def __init__(self, pki: Path):
        self.port = free_port()
        argv = [sys.executable, __file__, "--sink", str(self.port)]
        argv += [str(pki / "collector-local.crt"), str(pki / "collector-local.key"), str(pki / "ca.crt")]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def wait_for(self, lines: int, timeout: float, check=lambda: None) -> float:
        """When ``lines`` have arrived; ``check()`` runs each second nothing does."""
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            if not select.select([self.proc.stdout], [], [], 1.0)[0]:
                check()
                continue
            text = self.proc.stdout.readline().strip()
            if text.isdigit() and int(text) >= lines:
                return time.monotonic()
        raise SystemExit("timed out waiting for rsyslog's lines at the sink")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def write_blob(path: Path, blob: bytes) -> float:
    t0 = time.monotonic()
    with open(path, "ab") as f:
        for i in range(0, len(blob), 1 << 20):
            f.write(blob[i : i + (1 << 20)])
    return t0


def check_rsyslog_started(errors: Path) -> None:
    """Stop at once, saying why, when rsyslog said it cannot ship (its OpenSSL
    stream driver missing, most often): otherwise it runs, ships nothing, and the bench waits."""
    said = [line for line in errors.read_text(errors="replace").splitlines() if "could not load" in line]
    if said:
        raise SystemExit(
            f"rsyslog cannot run the comparison: {said[0].strip()}\nDebian: apt-get install rsyslog-openssl"
        )


def run_rsyslog(blob: bytes, lines: int, root: Path, pki: Path) -> dict:
    sink = Sink(pki)
    (root / "work").mkdir()
    watched = root / "in.jsonl"
    watched.touch()
    conf = root / "rsyslog.conf"
    conf.write_text(
        RSYSLOG_CONF.format(
            work=root / "work",
            ca=pki / "ca.crt",
            cert=pki / "agent-demo-agent.crt",
            key=pki / "agent-demo-agent.key",
            watched=watched,
            port=sink.port,
        )
    )
    errors = root / "rsyslog.err"
    with open(errors, "w") as err:
        proc = subprocess.Popen(["rsyslogd", "-n", "-f", str(conf), "-i", str(root / "rsyslog.pid")], stderr=err)
    try:
        time.sleep(1.0)  # inotify watch set up
        cpu0 = cpu_seconds(proc.pid)
        t0 = write_blob(watched, blob)
        t1 = sink.wait_for(lines, 600, lambda: check_rsyslog_started(errors))
        cpu = cpu_seconds(proc.pid) - cpu0
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
        sink.close()
    return {"lines_per_s": lines / (t1 - t0), "cpu_s": cpu, "rss_mb": rss}


def run_auditseal(blob: bytes, lines: int, root: Path, overrides: dict) -> dict:
    agent_port = free_port()
    setup = devsetup.setup(
        root,
        ingest_port=free_port(),
        admin_port=free_port(),
        agent_overrides={"metrics_listen": f"127.0.0.1:{agent_port}", "log_level": "warning", **overrides},
        collector_overrides={"log_level": "warning"},
    )
    agent_url = f"http://127.0.0.1:{agent_port}"

    def spawn(program: str, config: Path) -> subprocess.Popen:
        log = open(root / f"{program}.log", "w")
        return subprocess.Popen([sys.executable, "-m", f"{program}.main", "run", "-c", str(config)], stderr=log)

    collector = spawn("collector", setup.collector_config)
    agent = None
    try:
        wait(lambda: _ok(setup.admin_url + "/healthz"), 60, "collector")
        agent = spawn("agent", setup.agent_config)
        wait(lambda: _ok(agent_url + "/metrics"), 60, "agent")
        pid = _program_pid(agent)
        cpu0 = cpu_seconds(pid)
        t0 = write_blob(setup.watch_dir / "bench.jsonl", blob)
        t1 = wait(lambda: metric(agent_url, "auditseal_agent_events_acked_total") >= lines, 600, "acks")
        cpu = cpu_seconds(pid) - cpu0
        rss = peak_rss_mb(pid)
    finally:
        for proc in (agent, collector):
            if proc is not None:
                proc.terminate()
                proc.wait(60)
    return {"lines_per_s": lines / (t1 - t0), "cpu_s": cpu, "rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--sizes", default="300,450,1200", help="JSON line sizes in bytes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sink", nargs=4, metavar=("PORT", "CERT", "KEY", "CA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        return sink_main(int(args.sink[0]), *args.sink[1:])

    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[tuple[int, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="auditseal-compare-") as scratch:
        pki = Path(scratch) / "pki-source"
        devsetup.setup(pki)  # one dev PKI: rsyslog's client certificate is the agent's
        for size in sizes:
            blob = samples.lines(0, args.lines, "acme", size)
            for n in range(args.rounds):
                for name in ("rsyslog", "auditseal", "auditseal-tuned"):
                    root = Path(scratch) / f"{size}-{n}-{name}"
                    root.mkdir()
                    if name == "rsyslog":
                        result = run_rsyslog(blob, args.lines, root, pki / "pki")
                    else:
                        result = run_auditseal(blob, args.lines, root, TUNED if name.endswith("tuned") else {})
                    results.setdefault((size, name), []).append(result)
                    print(f"  size={size} round={n} {name}: {result['lines_per_s']:,.0f} lines/s", file=sys.stderr)

    print(f"compare lines={args.lines} rounds={args.rounds} (medians; ratios against rsyslog in the same run)")
    print("size  shipper          lines/s  ratio  µs CPU/line  lines/CPU-s  ratio  peak RSS MiB")
    for size in sizes:
        base = None
        for name in ("rsyslog", "auditseal", "auditseal-tuned"):
            runs = results[(size, name)]
            rate = statistics.median(r["lines_per_s"] for r in runs)
            cpu = statistics.median(r["cpu_s"] for r in runs)
            per_cpu = args.lines / max(cpu, 1e-9)
            rss = max(r["rss_mb"] for r in runs)
            base = base or (rate, per_cpu)
            print(
                f"{size:>4}  {name:<15} {rate:>9,.0f}  {rate / base[0]:>5.2f}  {cpu / args.lines * 1e6:>11.1f}"
                f"  {per_cpu:>11,.0f}  {per_cpu / base[1]:>5.2f}  {rss:>12.0f}"
            )
        tuned = statistics.median(r["lines_per_s"] for r in results[(size, "auditseal-tuned")])
        default = statistics.median(r["lines_per_s"] for r in results[(size, "auditseal")])
        print(f"{size:>4}  shipped defaults at {default / tuned:.2f}x the hand-tuned rate")


if __name__ == "__main__":
    main()
