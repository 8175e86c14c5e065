#!/usr/bin/env python3
"""Batches in flight (``output.pipelining``) against a distant collector, side by side.

A real agent and collector, with a delay line between them (a TCP relay in this process
holding each chunk ``rtt/2`` in each direction, order kept, bandwidth unbounded: a WAN link's
latency without its loss). Per round and per setting, N JSON lines are appended at once and
the time until all are acknowledged is measured, with the agent's CPU-seconds and peak RSS.
Settings run interleaved in rounds; medians are printed, with each setting's rate as a ratio
of ``pipelining: 1`` at the same round trip in the same run.

    .venv/bin/python bench/pipelining.py [--events 100000] [--rtt-ms 0,20,80] [--pipelining 1,2,4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditseal.dev import devsetup, samples  # noqa: E402
from bench.e2e import _ok, _program_pid, cpu_seconds, free_port, metric, peak_rss_mb, wait  # noqa: E402


class DelayLine:
    """TCP relay to ``target``: every chunk leaves ``one_way`` seconds after it arrived."""

    def __init__(self, target: int, one_way: float):
        self.target, self.one_way, self.port = target, one_way, free_port()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    async def _start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue = asyncio.Queue()

        async def release() -> None:
            while (item := await queue.get()) is not None:
                await asyncio.sleep(max(item[0] - time.monotonic(), 0))
                writer.write(item[1])
                await writer.drain()
            writer.close()

        releaser = asyncio.create_task(release())
        try:
            while data := await reader.read(1 << 16):
                queue.put_nowait((time.monotonic() + self.one_way, data))
        except ConnectionError:
            pass
        queue.put_nowait(None)
        await asyncio.gather(releaser, return_exceptions=True)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True)

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


def one_run(events: int, event_bytes: int, rtt_ms: int, pipelining: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix="auditseal-bench-"))
    agent_metrics, ingest_port = free_port(), free_port()
    relay = DelayLine(ingest_port, rtt_ms / 2000)
    setup = devsetup.setup(
        root,
        ingest_port=ingest_port,
        admin_port=free_port(),
        agent_overrides={
            "metrics_listen": f"127.0.0.1:{agent_metrics}",
            "log_level": "warning",
            "output": {"collectors": [f"https://127.0.0.1:{relay.port}"], "pipelining": pipelining},
        },
        collector_overrides={"log_level": "warning"},
    )
    agent_url = f"http://127.0.0.1:{agent_metrics}"
    procs = []
    try:
        for program, config in (("collector", setup.collector_config), ("agent", setup.agent_config)):
            command = [sys.executable, "-m", f"{program}.main", "run", "--config", str(config)]
            procs.append(subprocess.Popen(command, stderr=open(root / f"{program}.log", "w")))
            ready = setup.admin_url + "/healthz" if program == "collector" else agent_url + "/metrics"
            wait(lambda url=ready: _ok(url), 30, program)
        agent_pid = _program_pid(procs[1])
        blob = samples.lines(0, events, "acme", event_bytes)
        cpu0 = cpu_seconds(agent_pid)
        t0 = time.monotonic()
        with open(setup.watch_dir / "bench.jsonl", "ab") as f:
            f.write(blob)
        done = wait(lambda: metric(agent_url, "auditseal_agent_events_acked_total") >= events, 900, "acks", every=0.1)
        cpu = cpu_seconds(agent_pid) - cpu0
        too_early = metric(agent_url, 'auditseal_agent_batches_total{result="409"}')
        return {
            "eps": events / (done - t0),
            "cpu_us": cpu / events * 1e6,
            "rss": peak_rss_mb(agent_pid),
            "too_early": too_early,
        }
    finally:
        for proc in reversed(procs):
            os.kill(_program_pid(proc), 15)
            proc.wait(60)
        relay.close()
        subprocess.run(["rm", "-rf", str(root)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--event-bytes", type=int, default=450)
    parser.add_argument("--rtt-ms", default="0,20,80", help="round trips to add, comma-separated")
    parser.add_argument("--pipelining", default="1,2,4", help="settings to compare; the first is the anchor")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rtts = [int(x) for x in args.rtt_ms.split(",")]
    settings = [int(x) for x in args.pipelining.split(",")]
    results: dict[tuple[int, int], list[dict]] = {}
    for round_ in range(args.rounds):
        for rtt in rtts:
            for setting in settings:
                got = one_run(args.events, args.event_bytes, rtt, setting)
                results.setdefault((rtt, setting), []).append(got)
                print(
                    f"  round={round_} rtt_ms={rtt} pipelining={setting}: {got['eps']:,.0f} acked/s, "
                    f"{got['cpu_us']:.1f} agent µs/line, {got['rss']:.0f} MiB, {got['too_early']:.0f} too early",
                    flush=True,
                )
    print(f"pipelining events={args.events} event_bytes={args.event_bytes} rounds={args.rounds} (medians)")
    print(" rtt ms  pipelining   acked/s  ÷ first  agent µs/line  agent peak RSS MiB  409s")
    for rtt in rtts:
        anchor = statistics.median(r["eps"] for r in results[(rtt, settings[0])])
        for setting in settings:
            runs = results[(rtt, setting)]
            eps = statistics.median(r["eps"] for r in runs)
            print(
                f"{rtt:>7}  {setting:>10}  {eps:>8,.0f}  {eps / anchor:>7.2f}  "
                f"{statistics.median(r['cpu_us'] for r in runs):>13.1f}  "
                f"{statistics.median(r['rss'] for r in runs):>18.0f}  "
                f"{statistics.median(r['too_early'] for r in runs):>4.0f}"
            )


if __name__ == "__main__":
    main()
