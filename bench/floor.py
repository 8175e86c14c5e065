#!/usr/bin/env python3
"""Python's floor for the agent's per-event work, in process, on one core: what every event
must go through whatever the architecture, and nothing else — parse the JSON line, write its
canonical bytes, hash it (the event id), compress the batch (lz4) and MAC it (HMAC-SHA256).
Beside it, the agent's own JSON path (``from_json_line`` + stamp + canonical bytes) on the same
lines, so the note can say how far the agent is above the floor.

    .venv/bin/python bench/floor.py [--lines 200000] [--size 450] [--batch 5000]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import statistics
import sys
import time
from pathlib import Path

import lz4.frame
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.normalise import Source, from_json_line, stamp  # noqa: E402
from auditseal.dev import samples  # noqa: E402
from auditseal.formats.event import canonical_bytes, event_id, utc_now_iso  # noqa: E402

KEY = bytes(32)


def floor(lines: list[bytes], batch: int) -> None:
    for start in range(0, len(lines), batch):
        out = []
        for line in lines[start : start + batch]:
            doc = orjson.loads(line)
            data = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
            hashlib.sha256(data).digest()
            out.append(data)
        body = lz4.frame.compress(b"\n".join(out))
        hmac.new(KEY, body, hashlib.sha256).digest()


def agent_path(lines: list[bytes], batch: int) -> None:
    source = Source(tenant="acme", host_name="bench-host")
    created = utc_now_iso()
    sequence = 0
    for start in range(0, len(lines), batch):
        out = []
        for line in lines[start : start + batch]:
            doc = from_json_line(line, source, created)
            sequence += 1
            stamp(doc, "bench-agent", sequence, event_id("bench-agent", sequence))
            out.append(canonical_bytes(doc))
        body = lz4.frame.compress(b"".join(data + b"\n" for data in out))
        hmac.new(KEY, body, hashlib.sha256).digest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=450, help="JSON line size in bytes")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    lines = samples.lines(0, args.lines, None, args.size).splitlines()
    times: dict[str, list[float]] = {"floor": [], "agent": []}
    for _ in range(args.rounds):  # interleaved: both see the same machine state
        for name, run in (("floor", floor), ("agent", agent_path)):
            t0 = time.process_time()
            run(lines, args.batch)
            times[name].append((time.process_time() - t0) / args.lines * 1e6)
    f, a = statistics.median(times["floor"]), statistics.median(times["agent"])
    print(
        f"floor lines={args.lines} size={args.size} floor_us_per_line={f:.2f} agent_path_us_per_line={a:.2f} "
        f"agent/floor={a / f:.2f} floor_lines_per_cpu_s={1e6 / f:,.0f}"
    )


if __name__ == "__main__":
    main()
