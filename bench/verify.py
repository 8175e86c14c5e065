#!/usr/bin/env python3
"""Offline verification speed: an archive of N events sealed by the real sealer, then
`verify_store` over it on one core (events/s), plus proof-building time for one event.

    .venv/bin/python bench/verify.py [--events 1000000] [--segment 50000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402

from auditseal import runtime  # noqa: E402
from auditseal.audit.prove import build_proof  # noqa: E402
from auditseal.audit.verify import verify_store  # noqa: E402
from auditseal.formats.note import Signer  # noqa: E402
from auditseal.storage import archive
from auditseal.storage.segments import Position  # noqa: E402
from collector.sinks.sealer import Sealer  # noqa: E402
from tests.integrity_corpus import journal_batches  # noqa: E402
from tests.journal_helpers import journal_batch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--segment", type=int, default=50_000)
    args = parser.parse_args()
    runtime.tune_gc()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        signer = Signer.generate("auditseal.bench")
        store = archive.LocalStore(root / "archive")
        sealer = Sealer(store, root / "sealer", signer, signer.name)
        sealer.open()
        t0 = time.perf_counter()
        done, offset = 0, 8
        while done < args.events:
            count = min(args.segment, args.events - done)
            records = journal_batches([("acme", count)], seq=done, offset=offset)[0]
            offset = records[-1][1].end
            sealer.process(journal_batch(records, Position(1, offset)))
            done += count
        sealed = time.perf_counter() - t0
        t1 = time.perf_counter()
        report = verify_store(store, [signer.verifier()])
        verify_s = time.perf_counter() - t1
        assert not report.findings and report.events_verified == args.events, report.summary
        last_segment = sorted(store.list("acme/0/segments"))[-1]
        event_id = orjson.loads(archive.decode_segment(store.get(last_segment))[-1])["event"]["id"]
        t2 = time.perf_counter()
        bundle = build_proof(store, event_id, [signer.verifier()])
        prove_s = time.perf_counter() - t2
    print(
        f"verify events={args.events} segments={report.segments_total} "
        f"verify_s={verify_s:.2f} verify_eps={args.events / verify_s:,.0f} "
        f"seal_eps={args.events / sealed:,.0f} (incl. generating events) "
        f"prove_s={prove_s:.2f} proof_hashes={len(bundle['proof'])}"
    )


if __name__ == "__main__":
    main()
