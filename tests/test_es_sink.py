"""The Elasticsearch sink with the official async client, against the Elasticsearch API
(tests/es_server/, or a real cluster with ES_URL: ``make test-es-real``)."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from elasticsearch import AsyncElasticsearch

from auditseal.storage.segments import Position
from collector.metrics import CollectorMetrics
from collector.retention import RetentionPolicy, RetentionRule
from collector.sinks.es import templates
from collector.sinks.es.sink import ElasticsearchIndex
from tests.integrity_corpus import journal_batches
from tests.journal_helpers import cursor_at, journal_batch


def tenant() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def client(es, timeout: float = 10.0) -> AsyncElasticsearch:
    return AsyncElasticsearch(es.url, request_timeout=timeout, max_retries=0)


def make_sink(es, tmp_path, retention=None, timeout=10.0, item_retries=8, bulk_max_events=5000):
    metrics = CollectorMetrics()
    sink = ElasticsearchIndex(
        client(es, timeout), tmp_path / "es", retention or RetentionPolicy(), metrics, bulk_max_events, item_retries
    )
    return sink, metrics


def metric(metrics, name, **labels) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def count(es, stream: str, query: dict | None = None) -> int:
    async with client(es) as c:
        await c.indices.refresh(index=stream, ignore_unavailable=True)
        reply = await c.count(index=stream, query=query or {"match_all": {}}, ignore_unavailable=True)
        return reply["count"]


async def ids(es, stream: str) -> list[str]:
    async with client(es) as c:
        await c.indices.refresh(index=stream)
        found, after = [], None
        while True:
            extra = {"search_after": after} if after else {}
            reply = await c.search(
                index=stream, size=1000, sort=[{"event.id": "asc"}], source=False, docvalue_fields=["event.id"], **extra
            )
            hits = reply["hits"]["hits"]
            found.extend(h["fields"]["event.id"][0] for h in hits)
            if len(hits) < 1000:
                return found
            after = hits[-1]["sort"]


def end_of(records) -> Position:
    return Position(1, records[-1][1].end)


def run(coro):
    return asyncio.run(coro)


def test_open_installs_ilm_and_the_ecs_template_it_exports(es, tmp_path):
    policy = RetentionPolicy(index_days=90, rules=[RetentionRule(name="short", tenants=["acme"], index_days=30)])

    async def go():
        sink, _ = make_sink(es, tmp_path, policy)
        assert await sink.open() is None
        async with client(es) as c:
            ilm = await c.ilm.get_lifecycle(name="auditseal-audit-90d")
            assert ilm["auditseal-audit-90d"]["policy"]["phases"]["delete"]["min_age"] == "90d"
            assert "auditseal-audit-30d" in await c.ilm.get_lifecycle(name="auditseal-audit-30d")
            got = await c.indices.get_index_template(name="auditseal-audit")
            installed = got["index_templates"][0]["index_template"]
            assert installed["index_patterns"] == [templates.STREAM_PATTERN]
            assert installed["template"]["settings"]["index.lifecycle.name"] == "auditseal-audit-90d"
            props = installed["template"]["mappings"]["properties"]
            assert props["event"]["properties"]["id"]["type"] == "keyword"
            assert props["source"]["properties"]["ip"]["type"] == "ip"
            acme = (await c.indices.get_index_template(name="auditseal-audit-acme"))["index_templates"][0]
            assert acme["index_template"]["template"]["settings"]["index.lifecycle.name"] == "auditseal-audit-30d"
            assert acme["index_template"]["priority"] > installed["priority"]
        await sink.close()

    run(go())


@pytest.mark.es_faults  # edits the test server's shared templates
def test_an_operators_template_edits_survive_restarts_and_setup_overwrites_on_request(es, tmp_path):
    async def go():
        sink, _ = make_sink(es, tmp_path)
        await sink.open()
        await sink.close()
        async with client(es) as c:
            got = (await c.indices.get_index_template(name="auditseal-audit"))["index_templates"][0]["index_template"]
            assert got["composed_of"] == [templates.CUSTOM]
            assert (await c.cluster.get_component_template(name=templates.CUSTOM))["component_templates"]
            edited = {
                **got,
                "priority": 250,
                "template": {**got["template"], "settings": {"index.refresh_interval": "30s"}},
            }
            await c.indices.put_index_template(name="auditseal-audit", **edited)
            custom = {"template": {"settings": {"index.number_of_replicas": 2}}}
            await c.cluster.put_component_template(name=templates.CUSTOM, **custom)
            policy = (await c.ilm.get_lifecycle(name="auditseal-audit-90d"))["auditseal-audit-90d"]["policy"]
            policy["phases"]["delete"]["min_age"] = "120d"
            await c.ilm.put_lifecycle(name="auditseal-audit-90d", policy=policy)

        sink, _ = make_sink(es, tmp_path)  # a restart
        assert await sink.open() is None
        assert await sink.install() == []  # nothing written over the edits
        async with client(es) as c:
            got = (await c.indices.get_index_template(name="auditseal-audit"))["index_templates"][0]["index_template"]
            assert got["priority"] == 250 and got["template"]["settings"] == {"index.refresh_interval": "30s"}
            comp = (await c.cluster.get_component_template(name=templates.CUSTOM))["component_templates"][0]
            assert comp["component_template"] == custom
            ilm = (await c.ilm.get_lifecycle(name="auditseal-audit-90d"))["auditseal-audit-90d"]["policy"]
            assert ilm["phases"]["delete"]["min_age"] == "120d"

            # An older auditseal-managed version is upgraded on start; edits made there are the
            # price of not using @custom.
            await c.indices.put_index_template(
                name="auditseal-audit", **{**got, "_meta": {"managed_by": "auditseal", "template_version": 1}}
            )
            assert await sink.install() == ["template/auditseal-audit"]
            # setup --overwrite puts everything back but the operator's @custom.
            wrote = await sink.install(overwrite=True)
            assert "ilm/auditseal-audit-90d" in wrote and "template/auditseal-audit" in wrote
            ilm = (await c.ilm.get_lifecycle(name="auditseal-audit-90d"))["auditseal-audit-90d"]["policy"]
            assert ilm["phases"]["delete"]["min_age"] == "90d" and ilm["phases"]["hot"]["actions"]["rollover"] == {
                "max_age": "9d",
                "max_primary_shard_size": "50gb",
            }
            comp = (await c.cluster.get_component_template(name=templates.CUSTOM))["component_templates"][0]
            assert comp["component_template"] == custom
        await sink.close()

    run(go())


def test_every_event_lands_once_in_its_tenants_data_stream(es, tmp_path):
    a, b = tenant(), tenant()
    batches = journal_batches([(a, 300), (b, 200), (a, 100)])

    async def go():
        sink, metrics = make_sink(es, tmp_path, bulk_max_events=128)
        await sink.open()
        for records in batches:
            await sink.process(journal_batch(records, end_of(records)))
        assert await count(es, templates.data_stream(a)) == 400
        assert await count(es, templates.data_stream(b)) == 200
        assert len(set(await ids(es, templates.data_stream(a)))) == 400
        assert metric(metrics, "auditseal_collector_index_items_total", outcome="stored") == 600
        # Sent again (a replay from an older cursor): nothing new, nothing doubled.
        again, metrics2 = make_sink(es, tmp_path)
        await again.open()
        for records in batches:
            await again.process(journal_batch(records, end_of(records)))
        assert await count(es, templates.data_stream(a)) == 400
        assert await count(es, templates.data_stream(b)) == 200
        assert metric(metrics2, "auditseal_collector_index_items_total", outcome="stored") == 0
        await sink.close()
        await again.close()

    run(go())


def test_a_cursor_survives_a_restart(es, tmp_path):
    t = tenant()
    batches = journal_batches([(t, 10), (t, 10)])

    async def go():
        sink, _ = make_sink(es, tmp_path)
        await sink.open()
        await sink.process(journal_batch(batches[0], end_of(batches[0])))
        await sink.close()
        again, _ = make_sink(es, tmp_path)
        assert await again.open() == cursor_at(end_of(batches[0]))
        await again.close()

    run(go())


@pytest.mark.es_faults
def test_409_on_create_counts_as_stored(es, tmp_path):
    t = tenant()
    batches = journal_batches([(t, 50)])

    async def go():
        sink, metrics = make_sink(es, tmp_path)
        await sink.open()
        sink._replay = False  # send blindly, as after a lost answer, to see the 409s
        await sink.process(journal_batch(batches[0], end_of(batches[0])))
        sink._replay = False
        await sink.process(journal_batch(batches[0], end_of(batches[0])))
        assert metric(metrics, "auditseal_collector_index_items_total", outcome="duplicate") == 50
        assert len(es.documents(templates.data_stream(t))) == 50
        await sink.close()

    run(go())


@pytest.mark.es_faults
def test_429_and_503_items_are_retried_with_backoff_until_stored(es, tmp_path):
    t = tenant()
    batches = journal_batches([(t, 100)])

    async def go():
        sink, metrics = make_sink(es, tmp_path)
        await sink.open()
        es.inject_items(429, 30)
        es.inject_items(503, 20)
        es.inject_items(429, 60)  # spans two attempts
        await sink.process(journal_batch(batches[0], end_of(batches[0])))
        assert sorted(d[1] for d in es.documents(templates.data_stream(t))) == sorted(
            await ids(es, templates.data_stream(t))
        )
        assert await count(es, templates.data_stream(t)) == 100
        assert metric(metrics, "auditseal_collector_index_items_total", outcome="429") == 90
        assert metric(metrics, "auditseal_collector_index_items_total", outcome="503") == 20
        assert metric(metrics, "auditseal_collector_index_items_total", outcome="stored") == 100
        await sink.close()

    run(go())


@pytest.mark.es_faults
def test_items_deferred_past_the_retry_budget_fail_the_batch_then_replay_once(es, tmp_path):
    t = tenant()
    batches = journal_batches([(t, 40)])

    async def go():
        sink, _ = make_sink(es, tmp_path, item_retries=1)
        await sink.open()
        es.inject_items(429, 40 + 20)  # first try: all 40 deferred; retry: 20 of them
        from auditseal.errors import Retryable

        with pytest.raises(Retryable, match="deferred"):
            await sink.process(journal_batch(batches[0], end_of(batches[0])))
        assert not (tmp_path / "es" / "cursor.json").exists()
        await sink.process(journal_batch(batches[0], end_of(batches[0])))  # the runner's replay
        assert len(es.documents(templates.data_stream(t))) == 40
        await sink.close()

    run(go())


def batch_with_one_changed(t: str, n: int, which: int, fields: dict) -> list:
    """One journal batch of ``n`` events for tenant ``t``, event ``which`` given ``fields``."""
    from auditseal.formats.records import Record
    from collector.journal import decode_batch, encode_batch

    batches = journal_batches([(t, n)])
    position, record = batches[0][0]
    meta, lines = decode_batch(record.payload)
    lines[which] = orjson.dumps({**orjson.loads(lines[which]), **fields})
    payload = encode_batch(meta, lines)
    return [(position, Record(record.offset, record.offset + 17 + len(payload), 1, record.seq, payload))]


@pytest.mark.es_faults  # reads the test server's _ignored bookkeeping
def test_a_host_name_where_an_address_belongs_is_indexed_not_dead_lettered(es, tmp_path):
    """sshd with UseDNS writes host names where addresses go: the template's ignore_malformed
    indexes such a document (the value kept in _source, the field in _ignored)."""
    t = tenant()
    odd = batch_with_one_changed(
        t, 5, 2, {"source": {"ip": "host-7.example.org"}, "related": {"ip": ["host-7.example.org"]}}
    )

    async def go():
        sink, _ = make_sink(es, tmp_path)
        await sink.open()
        await sink.process(journal_batch(odd, end_of(odd)))
        assert await count(es, templates.data_stream(t)) == 5
        assert not (tmp_path / "es" / "dead-letter.ndjson").exists()
        index = es.streams[templates.data_stream(t)].write_index
        [(doc_id, kept)] = [(i, d) for i, d in index.docs.items() if d["source"].get("ip") == "host-7.example.org"]
        assert sorted(es.ignored_fields[doc_id]) == ["related.ip", "source.ip"]  # indexed, the value kept
        await sink.close()

    run(go())


def test_a_mapping_error_dead_letters_that_event_and_keeps_its_neighbours(es, tmp_path):
    t = tenant()
    # Event 7 carries a process.pid that is no number: Elasticsearch refuses that document (400).
    bad = batch_with_one_changed(t, 20, 6, {"process": {"pid": "not-a-number"}})

    async def go():
        sink, metrics = make_sink(es, tmp_path)
        await sink.open()
        await sink.process(journal_batch(bad, end_of(bad)))
        assert await count(es, templates.data_stream(t)) == 19
        dead = [orjson.loads(line) for line in (tmp_path / "es" / "dead-letter.ndjson").read_bytes().splitlines()]
        assert len(dead) == 1 and dead[0]["status"] == 400
        assert dead[0]["type"] in ("document_parsing_exception", "mapper_parsing_exception")
        assert "process.pid" in dead[0]["reason"] and dead[0]["event"]["process"]["pid"] == "not-a-number"
        assert metric(metrics, "auditseal_collector_index_dead_letters_total", type=dead[0]["type"]) == 1
        assert (tmp_path / "es" / "cursor.json").exists()  # settled: the batch is not replayed forever
        await sink.close()

    run(go())


@pytest.mark.es_faults
def test_whole_request_429_and_5xx_fail_the_call_and_the_replay_stores_once(es, tmp_path):
    t = tenant()
    batches = journal_batches([(t, 30)])

    async def go():
        sink, _ = make_sink(es, tmp_path)
        await sink.open()
        for status in (429, 502, 503):
            es.inject_http(status)
            with pytest.raises(Exception) as failed:
                await sink.process(journal_batch(batches[0], end_of(batches[0])))
            assert getattr(failed.value, "status_code", None) == status or str(status) in str(failed.value)
        await sink.process(journal_batch(batches[0], end_of(batches[0])))
        assert len(es.documents(templates.data_stream(t))) == 30
        await sink.close()

    run(go())


@pytest.mark.es_faults
def test_a_slow_answer_then_a_rollover_still_stores_each_event_once(es, tmp_path):
    """The bulk is applied but answered too late; before the replay the data stream rolls
    over, so ``create`` alone would store the events again in the new backing index."""
    t = tenant()
    batches = journal_batches([(t, 25)])
    stream = templates.data_stream(t)

    async def go():
        sink, metrics = make_sink(es, tmp_path, timeout=0.5)
        await sink.open()
        es.inject_slow(2.0)
        with pytest.raises(Exception):
            await sink.process(journal_batch(batches[0], end_of(batches[0])))
        await asyncio.sleep(2.0)  # the slow answer lands server-side
        assert len(es.documents(stream)) == 25
        es.rollover(stream)
        await sink.process(journal_batch(batches[0], end_of(batches[0])))
        docs = es.documents(stream)
        assert len(docs) == 25 and len({d[1] for d in docs}) == 25
        assert metric(metrics, "auditseal_collector_index_items_total", outcome="replayed_present") == 25
        await sink.close()

    run(go())


@pytest.mark.es_faults  # writes the test server's shared templates
def test_setup_installs_what_is_missing_and_overwrites_on_request(es, tmp_path):
    import subprocess
    import sys

    import yaml

    from auditseal.dev import devsetup

    dev = devsetup.setup(tmp_path / "dev")
    config = yaml.safe_load(dev.collector_config.read_text())

    def setup(*extra):
        return subprocess.run(
            [sys.executable, "-m", "collector.main", "setup", "--config", str(dev.collector_config), *extra],
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = setup()
    assert done.returncode == 2 and "not elasticsearch" in done.stderr  # the default index is SQLite
    config["index"] = {"type": "elasticsearch", "hosts": [es.url]}
    dev.collector_config.write_text(yaml.safe_dump(config))
    setup()  # whatever an earlier test left, after this everything is there
    done = setup()
    assert (
        done.returncode == 0
        and done.stdout.strip() == "elasticsearch: installed nothing (all present; --overwrite to replace)"
    )
    done = setup("--overwrite")
    assert (
        done.returncode == 0 and "template/auditseal-audit" in done.stdout and "ilm/auditseal-audit-90d" in done.stdout
    )
    config["index"]["hosts"] = ["http://127.0.0.1:1"]
    dev.collector_config.write_text(yaml.safe_dump(config))
    done = setup()
    assert done.returncode == 1 and "setup: ConnectionError" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.es_faults  # reads the test server's shared templates
def test_collector_test_output_checks_archive_and_index(es, tmp_path):
    import subprocess
    import sys

    import yaml

    from auditseal.dev import devsetup

    dev = devsetup.setup(tmp_path / "dev")

    def check():
        return subprocess.run(
            [sys.executable, "-m", "collector.main", "test", "output", "--config", str(dev.collector_config)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = check()  # the defaults: a local archive and a SQLite index under data_dir
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok    archive (local): ") and "ok    index (sqlite): " in done.stdout
    config = yaml.safe_load(dev.collector_config.read_text())
    config["index"] = {"type": "elasticsearch", "hosts": [es.url]}
    dev.collector_config.write_text(yaml.safe_dump(config))
    es.templates.pop(templates.TEMPLATE, None)  # as on a cluster the collector never started on
    done = check()
    assert done.returncode == 1 and "FAIL  index (elasticsearch" in done.stdout
    assert f"missing template {templates.TEMPLATE}" in done.stdout and "auditseal-collector setup" in done.stdout
    subprocess.run(
        [sys.executable, "-m", "collector.main", "setup", "--config", str(dev.collector_config)],
        check=True,
        capture_output=True,
    )
    done = check()
    assert done.returncode == 0 and "templates and ILM policies present" in done.stdout, done.stdout
    config["index"]["hosts"] = ["http://127.0.0.1:1"]
    dev.collector_config.write_text(yaml.safe_dump(config))
    done = check()
    assert done.returncode == 1 and "FAIL  index (elasticsearch): ConnectionError" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.es_faults  # takes the test server's cluster privileges away
def test_a_key_without_cluster_privileges_indexes_and_setup_says_which_privilege_is_missing(es, tmp_path):
    """The documented least-privilege key: templates installed once by an admin (``setup``),
    the collector's own key may only write and read its streams."""

    t = tenant()
    (records,) = journal_batches([(t, 20)])

    async def go():
        sink, _ = make_sink(es, tmp_path)
        assert await sink.install() is not None  # the admin's setup: everything present
        es.cluster_privileges = False
        try:
            sink, _ = make_sink(es, tmp_path)
            assert await sink.open() is None  # the start logs it could not check, and goes on
            assert await sink.install() == []
            await sink.process(journal_batch(records, end_of(records)))
            assert await count(es, templates.data_stream(t)) == 20
            await sink.close()
            with pytest.raises(Exception) as refused:
                await sink.install(overwrite=True)  # what setup runs: the refusal is its answer
            assert "security_exception" in str(refused.value) and "manage_ilm" in str(refused.value)
        finally:
            es.cluster_privileges = True

    run(go())
