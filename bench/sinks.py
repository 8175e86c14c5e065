#!/usr/bin/env python3
"""Events/s into each production sink, and the S3 segment size trade-off.

    .venv/bin/python bench/sinks.py [--events 200000] [--s3-endpoint URL | --start-ceph DIR]

Elasticsearch: the real sink (materialise + bulk body + the official async client) into
the suite's Elasticsearch-API test server in this process. That server is Python and
in-memory, so the figure is what the sink sustains against a fast peer, not a cluster's
ingest rate; the sink's own CPU per event is printed apart.

S3: the real sealer (Merkle + lz4 + AES-GCM + COMPLIANCE-locked PUTs with Content-MD5)
into a Ceph RADOS Gateway, once per segment size, printing object size, PUTs and events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditseal import runtime  # noqa: E402
from auditseal.formats.crypto import SegmentCipher  # noqa: E402
from auditseal.formats.note import Signer  # noqa: E402
from auditseal.storage.segments import Position  # noqa: E402
from collector.journal import decode_batch  # noqa: E402
from collector.metrics import CollectorMetrics  # noqa: E402
from collector.retention import RetentionPolicy  # noqa: E402
from collector.sinks.es import bulk, templates  # noqa: E402
from collector.sinks.sealer import Sealer  # noqa: E402
from collector.sinks.stored import materialise  # noqa: E402
from tests.integrity_corpus import journal_batches  # noqa: E402
from tests.journal_helpers import journal_batch  # noqa: E402


def batches_of(events: int, per_batch: int = 1000) -> list:
    return journal_batches([("acme", per_batch)] * (events // per_batch))


def bench_es(events: int) -> None:
    from elasticsearch import AsyncElasticsearch

    from collector.sinks.es.sink import ElasticsearchIndex
    from tests.es_server import ElasticsearchTestServer

    batches = batches_of(events)
    start = time.process_time()
    for records in batches:
        for _, record in records:
            meta, lines = decode_batch(record.payload)
            docs = []
            for line in lines:
                doc, stored = materialise(meta, line)
                docs.append(bulk.Doc(meta.tenant, templates.data_stream(meta.tenant), doc["event"]["id"], stored))
            bulk.body(docs)
    own = (time.process_time() - start) / events * 1e6

    server = ElasticsearchTestServer()
    server.start()

    async def run() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            sink = ElasticsearchIndex(
                AsyncElasticsearch(server.url, request_timeout=60, max_retries=0),
                Path(tmp),
                RetentionPolicy(),
                CollectorMetrics(),
                bulk_max_events=5000,
            )
            await sink.open()
            began = time.perf_counter()
            for i in range(0, len(batches), 5):
                group = [r for b in batches[i : i + 5] for r in b]
                await sink.process(journal_batch(group, Position(1, group[-1][1].end)))
            took = time.perf_counter() - began
            await sink.close()
            return took

    took = asyncio.run(run())
    stored = len(server.documents())
    server.close()
    print(
        f"elasticsearch sink: {stored:,} events in {took:.1f} s = {stored / took:,.0f} events/s "
        f"(5,000-event bulks, against the in-process test server); sink's own work "
        f"(materialise + bulk body) {own:.1f} µs/event = {1e6 / own:,.0f} events/s per core"
    )


def bench_s3(events: int, endpoint: str, sizes: list[int]) -> None:
    from auditseal.storage.archive_s3 import S3Location, S3Store, make_client

    client = make_client(endpoint)
    cipher = SegmentCipher(os.urandom(32))
    signer = Signer.generate("auditseal.bench")
    print(f"s3 archive sink ({endpoint}): sealer with AES-256-GCM, COMPLIANCE lock, Content-MD5")
    for size in sizes:
        bucket = f"auditseal-bench-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        store = S3Store(client, S3Location(bucket, "bench"))
        batches = batches_of(events, min(size, 10_000))
        with tempfile.TemporaryDirectory() as tmp:
            sealer = Sealer(
                store, Path(tmp), signer, signer.name, cipher=cipher, retention=RetentionPolicy(archive_days=1)
            )
            sealer.open()
            per_seal = max(1, size // min(size, 10_000))
            began = time.perf_counter()
            for i in range(0, len(batches), per_seal):
                group = [r for b in batches[i : i + per_seal] for r in b]
                sealer.process(journal_batch(group, Position(1, group[-1][1].end)))
            took = time.perf_counter() - began
        keys = [k for k in store.list("") if "/segments/" in k]
        sizes_b = [client.head_object(Bucket=bucket, Key="bench/" + k)["ContentLength"] for k in keys]
        mean = sum(sizes_b) / len(sizes_b)
        print(
            f"  segment {size:>7,} events: {len(keys):>4} segments of {mean / 1e6:5.2f} MB "
            f"({mean / size:.0f} B/event), {2 * len(keys)} locked PUTs, {events / took:>9,.0f} events/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--s3-endpoint", help="S3 with Object Lock (credentials from AWS_* variables)")
    parser.add_argument("--start-ceph", metavar="DIR", help="start a Ceph RADOS Gateway in DIR for the run")
    parser.add_argument("--segment-sizes", default="10000,50000,100000")
    parser.add_argument("--skip-es", action="store_true")
    args = parser.parse_args()
    runtime.tune_gc()
    if not args.skip_es:
        bench_es(args.events)
    endpoint = args.s3_endpoint
    script = Path(__file__).resolve().parent.parent / "scripts" / "ceph-rgw.sh"
    if args.start_ceph:
        endpoint = subprocess.run(
            [str(script), "start", args.start_ceph, "7481"], check=True, capture_output=True, text=True
        ).stdout.strip()
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "auditsealtest")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "auditsealtestsecret")
    try:
        if endpoint:
            bench_s3(args.events, endpoint, [int(s) for s in args.segment_sizes.split(",")])
    finally:
        if args.start_ceph:
            subprocess.run([str(script), "stop", args.start_ceph], check=False)


if __name__ == "__main__":
    main()
