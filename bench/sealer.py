#!/usr/bin/env python3
"""Events/s one partition's sealer sustains on one core: materialise, Merkle leaves, lz4,
AES-256-GCM, one segment and one signed checkpoint per batch into a local archive directory
(fsynced), as the collector's sealer runs it (one worker thread per partition).

    .venv/bin/python bench/sealer.py [--events 200000 --segment 50000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditseal import runtime  # noqa: E402
from auditseal.formats.crypto import SegmentCipher  # noqa: E402
from auditseal.formats.note import Signer  # noqa: E402
from auditseal.storage import archive  # noqa: E402
from auditseal.storage.segments import Position  # noqa: E402
from collector.sinks.sealer import Sealer  # noqa: E402
from tests.integrity_corpus import journal_batches  # noqa: E402
from tests.journal_helpers import journal_batch  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--segment", type=int, default=50_000, help="events per segment (archive.segment_max_events)")
    args = parser.parse_args()
    runtime.tune_gc()
    signer = Signer.generate("auditseal.bench")
    records = journal_batches([("acme", 500)] * (args.events // 500))
    per_seal = max(args.segment // 500, 1)
    batches = [
        journal_batch(
            sum(records[i : i + per_seal], []), Position(1, records[min(i + per_seal, len(records)) - 1][0][1].end)
        )
        for i in range(0, len(records), per_seal)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        sealer = Sealer(
            archive.LocalStore(Path(tmp) / "archive"),
            Path(tmp) / "sealer",
            signer,
            signer.name,
            cipher=SegmentCipher(os.urandom(32)),
        )
        sealer.open()
        cpu0, t0 = time.process_time(), time.perf_counter()
        for b in batches:
            sealer.process(b)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    n = len(records) * 500
    print(
        f"sealer, one partition: {n / wall:,.0f} events/s ({n / cpu:,.0f} events/CPU-s), "
        f"{len(batches)} segments of {args.segment} events, {wall:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
