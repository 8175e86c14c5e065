#!/usr/bin/env python3
"""Per-stage cost in µs/event, in-process, no sockets: where the time goes.

.venv/bin/python bench/stages.py [--events 50000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.lines import split_lines  # noqa: E402
from agent.normalise import Source, from_json_line, stamp  # noqa: E402
from agent.spool import Spool  # noqa: E402
from auditseal import runtime  # noqa: E402
from auditseal.dev import samples
from auditseal.formats import wire
from auditseal.formats.event import canonical_bytes, event_id, utc_now_iso  # noqa: E402
from auditseal.formats.records import Record  # noqa: E402
from auditseal.storage.segments import Position  # noqa: E402
from auditseal.tls import PeerIdentity  # noqa: E402
from collector.ingest.admit import admit  # noqa: E402
from collector.journal import BatchMeta, encode_batch  # noqa: E402
from collector.sinks.sqlite_index import SqliteIndex  # noqa: E402
from tests.journal_helpers import journal_batch  # noqa: E402


def timed(label: str, n: int, fn, results: dict):
    start = time.perf_counter()
    out = fn()
    results[label] = (time.perf_counter() - start) / n * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    n = parser.parse_args().events
    runtime.tune_gc()  # as the agent and collector do
    r: dict[str, float] = {}
    blob = samples.lines(0, n, "acme")
    split = timed("agent.split_lines", n, lambda: split_lines(blob, 0, 1 << 20), r)
    src, now = Source("acme", "h"), utc_now_iso()
    docs = timed("agent.parse+normalise", n, lambda: [from_json_line(l.data, src, now) for l in split.lines], r)

    def number():
        out = []
        for seq, doc in enumerate(docs, 1):
            stamp(doc, "web-1", seq, event_id("web-1", seq))
            out.append(canonical_bytes(doc))
        return out

    payloads = timed("agent.stamp+canonical", n, number, r)
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp), 32 << 20)
        spool.open()
        step = 5000
        timed(
            "agent.spool_append(fsync/5000)",
            n,
            lambda: [
                spool.append(payloads[i : i + step], i + 1, {"in": {"f": {"offset": i}}}) for i in range(0, n, step)
            ],
            r,
        )
        spool.close()
    bodies = timed(
        "agent.lz4+hmac(5000/batch)",
        n,
        lambda: [
            (
                b := wire.encode_body(payloads[i : i + step]),
                wire.build_headers(
                    agent="web-1", key_id="k1", key=b"k" * 32, timestamp=1, first_seq=i + 1, last_seq=i + step, body=b
                ),
            )[0]
            for i in range(0, n, step)
        ],
        r,
    )
    limits = wire.Limits()
    ids = PeerIdentity("web-1", frozenset({"acme"}))
    # As in the server: one batch at a time, its parsed documents dropped after admission.
    for b in bodies[:2]:  # warm-up: the server process reuses the same memory batch after batch
        wire.split_events(wire.decompress(b, limits), limits)
    timed(
        "collector.decompress+parse",
        n,
        lambda: [wire.split_events(wire.decompress(b, limits), limits)[0] for b in bodies],
        r,
    )

    def admit_all():
        out = []
        for i, b in enumerate(bodies):
            lines, evs = wire.split_events(wire.decompress(b, limits), limits)
            out.append(
                admit(ids, wire.BatchHeader("web-1", "k1", 1, i * step + 1, (i + 1) * step, ""), lines, evs, now)[0]
            )
        return out

    admitted = timed("collector.decompress+parse+admit", n, admit_all, r)
    r["collector.ingest.admit(check)"] = r.pop("collector.decompress+parse+admit") - r["collector.decompress+parse"]
    with tempfile.TemporaryDirectory() as tmp:
        index = SqliteIndex(Path(tmp) / "i.sqlite")
        index.open()
        recs = []
        for i, batch in enumerate(admitted):
            payload = encode_batch(BatchMeta("web-1", "acme", now), [line for _, _, line in batch])
            recs.append((Position(1, i), Record(i, i + 1, 1, 0, payload)))
        timed(
            "consumer.materialise+sqlite_index",
            n,
            lambda: index.process(journal_batch(recs, Position(1, len(recs)))),
            r,
        )
        index.close()
    width = max(map(len, r))
    for label, us in r.items():
        print(f"{label.ljust(width)}  {us:7.2f} µs/event  ({1e6 / us:>12,.0f} events/s)")
    agent = sum(v for k, v in r.items() if k.startswith("agent."))
    coll = sum(v for k, v in r.items() if k.startswith("collector."))
    print(f"{'agent total'.ljust(width)}  {agent:7.2f} µs/event  ({1e6 / agent:>12,.0f} events/s per core)")
    print(f"{'collector ack path'.ljust(width)}  {coll:7.2f} µs/event  ({1e6 / coll:>12,.0f} events/s per core)")


if __name__ == "__main__":
    main()
