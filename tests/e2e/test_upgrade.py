"""Today's collector started on a data directory left by the previous release (cdbf7bd,
written by ``tests/fixtures/make_previous_release.py`` with that release's code): a collector
killed while its index stood at the journal's end and its sealer 60 events behind. Every
sink resumes where it stood — nothing re-indexed, nothing re-sealed, nothing skipped."""

import shutil
import tarfile
from pathlib import Path

import orjson

from auditseal.formats import wire
from tests.e2e.test_bad_input import agent_event, post
from tests.e2e.test_integrity_cli import verify_archive
from tests.harness import Pipeline, wait_for

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "collector-data-cdbf7bd.tar.gz"


def verified(pipe) -> dict:
    return orjson.loads(verify_archive(pipe, "--json", "--index", "sqlite:" + str(pipe.index_path)).stdout)


def sink_events(pipe, sink: str) -> float:
    return pipe.collector_metrics().get(f'auditseal_collector_sink_events_total{{sink="{sink}"}}', 0)


def test_a_data_directory_from_the_previous_release_resumes_every_sink_where_it_stood(tmp_path):
    pipe = Pipeline(tmp_path / "pipe", collector_overrides={"archive": {"segment_max_age": 0.3}})
    for part in ("collector", "keys", "pki"):
        shutil.rmtree(pipe.root / part, ignore_errors=True)
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(pipe.root, filter="data")
    sealer_dir = pipe.root / "collector" / "sealer"
    assert orjson.loads((sealer_dir / "cursor.json").read_bytes()) == [1, 120859]  # the old format
    archive_dir = pipe.root / "collector" / "archive"
    before = {str(p.relative_to(archive_dir)): p.read_bytes() for p in archive_dir.rglob("*") if p.is_file()}
    assert len(before) == 4  # acme 0-199 and globex 0-99, each with its checkpoint
    try:
        pipe.start_collector()
        # The sealer seals exactly the 60 events it had not; the index takes nothing again.
        wait_for(lambda: sink_events(pipe, "archive") == 60, 30, "the sealer's 60 pending events sealed")
        assert sink_events(pipe, "index") == 0, "re-indexed what the index held"
        report = verified(pipe)
        assert report["findings"] == [] and report["events_verified"] == 360, report
        after = {str(p.relative_to(archive_dir)): p.read_bytes() for p in archive_dir.rglob("*") if p.is_file()}
        assert {k: v for k, v in after.items() if k in before} == before, "an old object changed"
        assert sorted(set(after) - set(before)) == [
            "acme/0/checkpoints/00000002.note",
            "acme/0/segments/000000000200-000000000259.ndjson.lz4",
        ]

        # The journal's dedupe marks came through as well: a resend of 360 is a duplicate,
        # and the next events flow into both sinks exactly once.
        status, answer = post(pipe, wire.encode_body([agent_event(360)]), 360, 360)
        assert status == 200 and answer["duplicates"] == 1 and answer["acked_seq"] == 360
        body = wire.encode_body([agent_event(n) for n in range(361, 371)])
        status, answer = post(pipe, body, 361, 370)
        assert status == 200 and answer["accepted"] == 10, answer
        wait_for(
            lambda: sink_events(pipe, "index") == 10 and sink_events(pipe, "archive") == 70,
            30,
            "the new events in both sinks",
        )
        report = verified(pipe)
        assert report["findings"] == [] and report["events_verified"] == 370, report
        assert pipe.index_count() == 370
    finally:
        pipe.stop()
    # Migrated once to the new cursor form; a second start finds nothing to migrate.
    assert orjson.loads((sealer_dir / "cursor.json").read_bytes()).startswith("1:local:1.")
    assert "journal cursors migrated" in pipe.collector.output()
    pipe.start_collector()
    try:
        wait_for(lambda: pipe.http_ok("/readyz"), 20, "ready again")
        assert sink_events(pipe, "index") == 0 and sink_events(pipe, "archive") == 0
    finally:
        pipe.stop()
    assert pipe.collector.output().count("journal cursors migrated") == 1
    assert "Traceback" not in pipe.collector.output()
