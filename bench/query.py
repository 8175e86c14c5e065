#!/usr/bin/env python3
"""Admin API query latency on a large SQLite index, and inclusion-proof latency on a large
archive, as the admin API runs them.

Index: N events (default 10,000,000) stored with the index sink's own schema, row mapping and
insert (``collector.sinks.sqlite_index``): 10 tenants, 5,000 users, 40 actions, 30 days in time
order. Then random queries through ``collector.sinks.sqlite_search`` (what ``/v1/events`` and
``/v1/events/count`` call, a fresh read-only connection each, as the API does), each built by
``EventQuery.from_params`` from URL-style parameters:

- user+time: one user of one tenant in a one-day window, first page of 100, newest first;
- action+time: one action of one tenant in a one-day window, first page and the third page
  (walked with the cursor), newest first;
- count of user+time;
- message words (FTS5) of one tenant in a one-day window.

Archive: M events (default 1,000,000) sealed by the real sealer into a local archive, at two
segment sizes (the default maximum, and small segments as a quiet tenant's 5-second seals
give); the proof index caught up once; then ``proof_from_index`` (what ``/v1/proof`` calls)
for random events, against ``build_proof`` (the scan ``/v1/proof`` did before) for a few.

    .venv/bin/python bench/query.py [--events 10000000] [--proof-events 1000000] [--dir DIR --keep]

Prints p50/p99/max in milliseconds per query kind and the peak RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402

from auditseal import runtime  # noqa: E402
from auditseal.audit.proof_index import ProofIndex  # noqa: E402
from auditseal.audit.prove import build_proof, check_proof, proof_from_index  # noqa: E402
from auditseal.formats.event import event_id, format_ts  # noqa: E402
from auditseal.formats.note import Signer  # noqa: E402
from auditseal.storage import archive  # noqa: E402
from auditseal.storage.segments import Position  # noqa: E402
from collector.query import EventQuery  # noqa: E402
from collector.sinks.sealer import Sealer  # noqa: E402
from collector.sinks.sqlite_index import INSERT, SqliteIndex, row  # noqa: E402
from collector.sinks.sqlite_search import agents, count, search_page  # noqa: E402
from tests.integrity_corpus import journal_batches  # noqa: E402
from tests.journal_helpers import journal_batch  # noqa: E402

TENANTS = [f"tenant{t:02d}" for t in range(10)]
USERS = [f"user{u:04d}" for u in range(5000)]
ACTIONS = [f"action_{a:02d}" for a in range(40)]
WORDS = ["password", "session", "opened", "closed", "denied", "granted", "sudo", "key", "token", "policy"]
START = dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc)
DAYS = 30


def doc_of(n: int, total: int, rng: random.Random) -> dict:
    when = START + dt.timedelta(seconds=DAYS * 86400 * n / total)
    agent = f"host-{n % 500:03d}"
    return {
        "@timestamp": format_ts(when),
        "agent": {"id": agent},
        "event": {
            "action": rng.choice(ACTIONS),
            "category": [rng.choice(["authentication", "iam", "configuration", "process"])],
            "outcome": rng.choice(["success", "success", "success", "failure"]),
            "id": event_id(agent, n),
            "sequence": n,
            "created": format_ts(when),
            "ingested": format_ts(when),
        },
        "organization": {"id": TENANTS[n % len(TENANTS)]},
        "user": {"name": rng.choice(USERS), "target": {"name": rng.choice(USERS)}},
        "source": {"ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"},
        "host": {"name": agent},
        "message": " ".join(rng.choices(WORDS, k=6)) + f" n{n}",
    }


def build_index(path: Path, total: int) -> float:
    """Events/s of the build (setup, not what is measured)."""
    sink = SqliteIndex(path)
    sink.open()  # the sink's schema (v2: filter columns, indexes, FTS5 and its triggers)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-2000000")  # 2 GB for the build only
    rng = random.Random(7)
    t0 = time.perf_counter()
    chunk = 50_000
    for start in range(0, total, chunk):
        rows = []
        for n in range(start, min(start + chunk, total)):
            doc = doc_of(n, total, rng)
            rows.append(row(doc, orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)))
        conn.execute("BEGIN")
        conn.executemany(INSERT, rows)
        conn.execute("COMMIT")
        if start and start % 1_000_000 == 0:
            print(f"  indexed {start:,} events ({start / (time.perf_counter() - t0):,.0f}/s)", flush=True)
    conn.execute("ANALYZE")
    conn.close()
    return total / (time.perf_counter() - t0)


def percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):7.2f} ms  p99 {p99:7.2f} ms  max {ms[-1]:7.2f} ms  (n={len(ms)})"


def day_window(rng: random.Random) -> tuple[str, str]:
    day = START + dt.timedelta(days=rng.randrange(DAYS))
    return format_ts(day), format_ts(day + dt.timedelta(days=1))


def timed(fn, *args) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def bench_queries(path: Path, rounds: int) -> None:
    rng = random.Random(11)
    kinds: dict[str, list[float]] = {k: [] for k in ("user+time", "action+time", "action+time p3", "count", "words")}
    found = {k: 0 for k in kinds}
    for _ in range(rounds):
        tenant = rng.choice(TENANTS)
        since, until = day_window(rng)
        window = {"since": since, "until": until}
        q = EventQuery.from_params({"user": rng.choice(USERS), **window}, tenant)
        took, (page, _) = timed(search_page, path, q)
        kinds["user+time"].append(took)
        found["user+time"] += len(page)
        q = EventQuery.from_params({"action": rng.choice(ACTIONS), **window}, tenant)
        took, (page, more) = timed(search_page, path, q)
        kinds["action+time"].append(took)
        found["action+time"] += len(page)
        for _ in range(2):  # the third page, by cursor
            if not more:
                break
            q = EventQuery.from_params({"action": q.action, **window, "cursor": q.cursor_after(page[-1])}, tenant)
            took, (page, more) = timed(search_page, path, q)
        kinds["action+time p3"].append(took)
        found["action+time p3"] += len(page)
        q = EventQuery.from_params({"user": rng.choice(USERS), **window}, tenant, paged=False)
        took, n = timed(count, path, q)
        kinds["count"].append(took)
        found["count"] += n
        q = EventQuery.from_params({"q": " ".join(rng.sample(WORDS, 2)), **window}, tenant)
        took, (page, _) = timed(search_page, path, q)
        kinds["words"].append(took)
        found["words"] += len(page)
    kinds["agents"] = []  # /v1/agents: each agent of a tenant with its count, last sequence, last event
    found["agents"] = 0
    for tenant in TENANTS[:5]:
        took, listed = timed(agents, path, tenant)
        kinds["agents"].append(took)
        found["agents"] += len(listed) * rounds / 5
    for kind, samples in kinds.items():
        print(f"  {kind:15s} {percentiles(samples)}  mean results {found[kind] / rounds:.1f}")


def bench_proofs(root: Path, events: int, segment: int, rounds: int) -> None:
    signer = Signer.generate("auditseal.bench")
    store = archive.LocalStore(root / "archive")
    sealer = Sealer(store, root / "sealer", signer, signer.name)
    sealer.open()
    done, offset = 0, 8
    t0 = time.perf_counter()
    while done < events:
        n = min(segment, events - done)
        records = journal_batches([("acme", n)], seq=done, offset=offset)[0]
        offset = records[-1][1].end
        sealer.process(journal_batch(records, Position(1, offset)))
        done += n
    seal_s = time.perf_counter() - t0
    segments = store.list("acme/0/segments")
    proofs = ProofIndex(root / "proofs.sqlite")
    catch_up_s, _ = timed(proofs.catch_up, store, "acme/0")
    ids = []
    rng = random.Random(5)
    for key in rng.sample(segments, min(len(segments), 50)):
        lines = archive.decode_segment(store.get(key))
        ids.extend(orjson.loads(line)["event"]["id"] for line in rng.sample(lines, min(len(lines), 20)))
    verifiers = [signer.verifier()]
    samples = []
    for ident in rng.choices(ids, k=rounds):
        took, bundle = timed(proof_from_index, store, proofs, ident, verifiers, "acme")
        samples.append(took)
    check_proof(bundle, verifiers)  # the last one checks offline
    scans = [timed(build_proof, store, ident, verifiers)[0] for ident in rng.sample(ids, 3)]
    print(
        f"  archive of {events:,} events in {len(segments):,} segments of {segment:,} "
        f"(sealed in {seal_s:.0f} s); proof index built in {catch_up_s:.1f} s "
        f"({events / catch_up_s:,.0f} events/s)"
    )
    print(f"  proof from the index: {percentiles(samples)}  ({len(bundle['proof'])} hashes)")
    print(
        f"  proof by scanning the archive (before): median {statistics.median(scans) * 1000:,.0f} ms; "
        f"index / scan = 1 / {statistics.median(scans) / statistics.median(samples):,.0f}"
    )
    proofs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events in the SQLite index")
    parser.add_argument("--proof-events", type=int, default=1_000_000, help="events in the archive (0: none)")
    parser.add_argument("--rounds", type=int, default=300, help="queries of each kind")
    parser.add_argument("--dir", help="where to build (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the index in --dir")
    args = parser.parse_args()
    runtime.tune_gc()
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="auditseal-bench-query-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        path = root / f"index-{args.events}.sqlite"
        if path.exists() and args.keep:
            took, _ = timed(SqliteIndex(path).open)  # an index of an older layout is upgraded here
            print(f"index: reusing {path} (opened in {took:.1f} s)")
        else:
            path.unlink(missing_ok=True)
            print(f"index: building {args.events:,} events in {path}", flush=True)
            print(f"  built at {build_index(path, args.events):,.0f} events/s")
        print(f"  size {path.stat().st_size / 1e9:.2f} GB")
        print(f"queries over {args.events:,} events ({args.rounds} of each kind, a new connection each):")
        bench_queries(path, args.rounds)
        for segment in (50_000, 1_000) if args.proof_events else ():
            print(f"proofs (segments of {segment:,} events):", flush=True)
            where = root / f"archive-{segment}"
            shutil.rmtree(where, ignore_errors=True)
            bench_proofs(where, args.proof_events, segment, args.rounds)
            shutil.rmtree(where, ignore_errors=True)
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
