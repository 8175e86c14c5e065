"""Model-based test of the sealer: any sequence of batches, store failures (before a write
lands, or after it landed with the answer lost) and restarts ends with every event sealed
exactly once in a log that verifies."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditseal.audit.verify import verify_store
from auditseal.formats.note import Signer
from auditseal.storage import archive
from auditseal.storage.segments import Position
from collector.journal.local import position_of
from collector.retention import RetentionPolicy, RetentionRule
from collector.sinks.base import SinkUnavailable
from collector.sinks.sealer import Sealer
from tests.integrity_corpus import journal_batches
from tests.journal_helpers import journal_batch

SIGNER = Signer.generate("auditseal.model")
POLICY = RetentionPolicy(rules=[RetentionRule(name="auth", categories=["authentication"])])


class Flaky(archive.LocalStore):
    """Fails the puts it is told to: ``before`` (nothing lands) or ``after`` (it lands, the
    answer is lost — what a timed-out S3 PUT looks like)."""

    def __init__(self, root, faults: list[str]):
        super().__init__(root)
        self.faults = faults  # one entry per put: "ok" | "before" | "after"

    def put_once(self, key, data, retain_until=None, metadata=None):
        fault = self.faults.pop(0) if self.faults else "ok"
        if fault == "before":
            raise OSError("injected: store unreachable")
        super().put_once(key, data, retain_until, metadata)
        if fault == "after":
            raise OSError("injected: answer lost")


def remove_unsealed_refused(self, key):
    raise AssertionError(f"a locked store cannot remove {key}; the sealer must roll forward instead")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.tuples(st.sampled_from(["acme", "globex"]), st.integers(1, 12)), min_size=1, max_size=8),
    faults=st.lists(st.sampled_from(["ok", "ok", "before", "after"]), max_size=30),
    group=st.integers(1, 3),
    restart_on_failure=st.booleans(),
)
def test_any_failures_and_restarts_seal_each_event_once(tmp_path_factory, sizes, faults, group, restart_on_failure):
    root = tmp_path_factory.mktemp("model")
    store = Flaky(root / "archive", list(faults))
    store.remove_unsealed = remove_unsealed_refused.__get__(store)  # behave like a locked bucket
    batches = journal_batches(sizes)
    records = [r for b in batches for r in b]

    def fresh() -> tuple[Sealer, int]:
        while True:  # the consumer runner retries an open that fails (it may finish a seal)
            sealer = Sealer(store, root / "sealer", SIGNER, SIGNER.name, retention=POLICY)
            try:
                cursor = sealer.open()
                break
            except SinkUnavailable:
                continue
        offset = None if cursor is None else position_of(cursor).offset
        start = (
            0
            if offset is None
            else next(i for i, (p, _) in enumerate(records) if p.offset >= offset)
            if any(p.offset >= offset for p, _ in records)
            else len(records)
        )
        return sealer, start

    sealer, at = fresh()
    attempts = 0
    while at < len(records):
        attempts += 1
        assert attempts < 200, "no progress"
        chunk = records[at : at + group]
        end = Position(1, chunk[-1][1].end)
        try:
            sealer.process(journal_batch(chunk, end))
        except SinkUnavailable:
            if restart_on_failure:
                sealer, at = fresh()  # a crash: start over from the durable cursor
            continue  # else the runner retries the same chunk on the same sealer
        at += len(chunk)
    report = verify_store(archive.LocalStore(root / "archive"), [SIGNER.verifier()])
    assert report.findings == [], [f.line() for f in report.findings]
    sealed = []
    for tenant, partition in archive.list_logs(store):
        for key in store.list(f"{tenant}/{partition}/segments/"):
            sealed.extend(orjson.loads(line)["event"]["sequence"] for line in archive.decode_segment(store.get(key)))
    assert sorted(sealed) == list(range(1, sum(n for _, n in sizes) + 1))
    assert not list((root / "sealer").glob("*.intent.json"))
