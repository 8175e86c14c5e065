"""auditseal-collector: the composition root (config → journal, sinks, servers)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import signal
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from auditseal import logs, runtime, sdnotify, tls, version_text
from auditseal.errors import Halt
from auditseal.formats.crypto import SegmentCipher
from auditseal.formats.note import NoteError, Signer
from auditseal.logs import kv

from . import config as collector_config
from . import preflight
from .admin.build import admin_api, catch_up_proofs
from auditseal.rules.engine import alert_id

from .admin.health import Readiness
from .alerts import Alert, AlertStore
from .channels.dispatcher import Dispatcher
from .datalock import DataDirLock
from .ingest import answers, tls_refusals
from .ingest.server import Ingest, IngestSite
from .integrity import IntegrityMonitor
from auditseal.audit.proof_index import ProofIndex
from .journal import upgrade
from .commands import export, quarantine_command, setup, sink_name
from .reload import Reloadable, alerting_parts, load_hmac_keys, reload
from .fleet import Fleet, Role
from .journal.local import LocalJournal
from .journal.nats import NatsJournal
from .journal.own_stream import OwnStream
from .metrics import CollectorMetrics
from .sinks import registry, sqlite_index
from .sinks.alerting import AlertSink
from .sinks.quarantine import Quarantine
from .sinks.runner import SinkRunner
from .sinks.sealer import Sealer
from .sinks.shared_runner import SharedSinkRunner
from .sinks.sealer_state import FileState, KvState

STOP_SECONDS = 8.0  # SIGTERM to exit, at most (the stop bound the README promises is 10 s)
log = logging.getLogger("auditseal.collector")


async def sealer_tick(sealer: Sealer) -> None:
    """Idle checkpoints (a failure is logged and retried at the next tick)."""
    try:
        await asyncio.to_thread(sealer.tick)
    except OSError as exc:
        log.error("idle checkpoint failed; will retry", extra=kv(error=str(exc)))


def when_holding(holding, job):
    """A job of the sinks' side: in a fleet, only the sinks lease holder runs it."""

    @functools.wraps(job)
    async def run(*args):
        if holding():
            return await job(*args)

    return run


def until_stopped(job):
    """A scheduled coroutine that a shutdown may cancel mid-run: that is a normal stop, not a
    failure to report (each job is idempotent and runs again after the restart)."""

    @functools.wraps(job)
    async def run(*args):
        try:
            return await job(*args)
        except asyncio.CancelledError:
            log.info("scheduled job stopped by shutdown", extra=kv(job=job.__name__))

    return run


async def prune_index(path: Path, policy) -> None:
    """Hot retention of the SQLite index (a failure is logged and retried next hour)."""
    try:
        removed = await asyncio.to_thread(sqlite_index.prune, path, policy)
    except Exception as exc:
        log.error("index retention pass failed; will retry", extra=kv(error=f"{type(exc).__name__}: {exc}"))
        return
    if removed:
        log.info("index retention removed events past their hot days", extra=kv(events=removed))


def load_signer(path: Path) -> Signer:
    try:
        return Signer.parse(path.read_text())
    except OSError as exc:
        raise Halt(f"{path}: cannot read the checkpoint signing key: {exc.strerror}") from None
    except NoteError as exc:
        raise Halt(f"{path}: not a signing key ({exc}); make one with `auditseal keys init`") from None


async def start_site(app: web.Application, listen: str, ssl_context=None) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, port = collector_config.split_listen(listen)
    try:
        await web.TCPSite(runner, host, port, ssl_context=ssl_context, backlog=512).start()
    except OSError as exc:
        raise Halt(f"cannot listen on {listen}: {exc.strerror}") from None
    return runner


async def run(
    cfg: collector_config.CollectorConfig,
    rules: list,
    channels: dict,
    config_path: str | None = None,
    config_dir: str | None = None,
) -> None:
    metrics = CollectorMetrics()
    tls_refusals.install(metrics.tls_refusals)
    data = cfg.collector.data_dir
    keys = load_hmac_keys(cfg.ingest.hmac_keys_file)
    ssl_ctx = tls.server_context(str(cfg.ingest.tls.cert), str(cfg.ingest.tls.key), str(cfg.ingest.tls.client_ca))
    index_path = (cfg.index.path or data / "index.sqlite") if cfg.index.type == "sqlite" else None
    shared = cfg.journal.type == "nats"  # a fleet: the sinks run where the sinks lease is
    journal: LocalJournal | NatsJournal
    if isinstance(cfg.journal, collector_config.NatsJournalConfig):
        data.mkdir(parents=True, exist_ok=True)
        journal = NatsJournal(cfg.journal, cfg.collector.id)
        journal.publish_seconds = metrics.journal_publish_seconds
        journal.foreign_messages = metrics.journal_set_aside
        journal.skipped_deliveries = metrics.journal_reread
        journal.purged_unread = metrics.journal_purged_unread
        journal.quarantine_dir = data / "quarantine"
        await journal.connect()
    else:
        await asyncio.to_thread(upgrade.migrate, data, index_path)  # before any sink reads its cursor
        journal = LocalJournal(data / "journal", cfg.journal.max_segment_bytes, cfg.journal.max_bytes)
        await asyncio.to_thread(journal.open)
    alerts = AlertStore(data / "alerts.sqlite")

    dispatcher = Dispatcher(alerts, channels, {n: c.retry.policy() for n, c in cfg.alerting.channels.items()}, metrics)
    loop = asyncio.get_running_loop()
    # Quarantines are reported from the sinks' worker threads.
    on_entry = functools.partial(
        quarantined, metrics, alerts, cfg.alerting.defaults(), lambda: loop.call_soon_threadsafe(dispatcher.wake)
    )
    index, reader = registry.open_index(cfg, data, metrics, Quarantine(data / "quarantine", "index", on_entry))
    signer = load_signer(cfg.archive.signing_key)
    store = registry.open_store(cfg.archive, data)
    cipher = SegmentCipher.load(cfg.archive.encryption_key) if cfg.archive.encryption_key else None
    partitions = cfg.journal.partitions if shared else 1
    fleet: Fleet | None = None
    saved: list = [None] * partitions
    if isinstance(journal, NatsJournal):  # the sealers' state in the fleet's bucket, not on this disk
        bucket = await journal.sealer_bucket()
        saved = [
            KvState(
                bucket,
                asyncio.get_running_loop(),
                k,
                cfg.journal.publish_timeout + 1,
                FileState(data / ("sealer" if k == 0 else f"sealer-p{k}")),
            )
            for k in range(partitions)
        ]
    sealers = [
        Sealer(
            store,
            data / ("sealer" if k == 0 else f"sealer-p{k}"),
            signer,
            signer.name,
            cfg.archive.checkpoint_interval,
            cipher,
            cfg.retention,
            Quarantine(data / "quarantine", "archive" if k == 0 else f"archive-p{k}", on_entry),
            shard=k,
            saved=saved[k],
            holding=(lambda k=k: fleet is not None and fleet.holding(f"sealer-p{k}")) if shared else None,
        )
        for k in range(partitions)
    ]
    zones = cfg.alerting.time_zones
    alert_sink = AlertSink(
        alerts,
        rules,
        cfg.alerting.channels_for,
        journal,
        "fleet" if shared else cfg.collector.id,  # a fleet's alert stream outlives each holder
        metrics,
        cfg.alerting.lateness,
        lambda tenant: zones.get(tenant, cfg.alerting.default_time_zone),
        cfg.alerting.snapshot_interval,
        on_new=dispatcher.wake,
    )

    def view(sink, partition=None):
        return journal.reader(sink.name, partition) if isinstance(journal, NatsJournal) else journal

    # A fleet indexing into Elasticsearch: every collector runs an index worker on one shared
    # consumer (idempotent by event id). The SQLite index has one writer: it rides the sinks lease.
    shared_index = shared and cfg.index.type == "elasticsearch"

    def sinks_runners() -> list[SinkRunner]:
        alerting = [SinkRunner(view(alert_sink), alert_sink, metrics)]
        return alerting if shared_index else [SinkRunner(view(index), index, metrics), *alerting]

    def sealer_runner(sealer: Sealer) -> SinkRunner:
        return SinkRunner(
            view(sealer, sealer.shard if partitions > 1 else None),
            sealer,
            metrics,
            min_events=cfg.archive.segment_max_events,
            max_wait=cfg.archive.segment_max_age,
        )

    runners: list = []
    tasks: list[asyncio.Task] = []
    if isinstance(journal, NatsJournal):
        if shared_index:
            index.keep_cursor = False
            runners.append(SharedSinkRunner(journal, index, metrics))
            tasks.append(asyncio.create_task(runners[-1].run(), name=index.name))
        journal.consumers = [index.name, alert_sink.name] + [s.name for s in sealers]
        roles = [Role("sinks", DataDirLock(data), sinks_runners, dispatcher)] + [
            Role(f"sealer-p{s.shard}", DataDirLock(data, f"sealer-p{s.shard}.lock"), lambda s=s: [sealer_runner(s)])
            for s in sealers
        ]
        fleet = Fleet(journal, cfg, metrics, runners, roles)
        await fleet.open()
        tasks.append(asyncio.create_task(fleet.run(), name="fleet"))
        dispatching = asyncio.create_task(asyncio.sleep(0))
    else:
        runners += sinks_runners() + [sealer_runner(s) for s in sealers]
        # Sinks open (and create the index schema) before the admin API can query them; a sink
        # whose store is down keeps retrying while ingest runs.
        tasks += [asyncio.create_task(r.run(), name=r.sink.name) for r in runners]
        dispatching = asyncio.create_task(dispatcher.run())
        while any(r.position is None and r.failing is None for r in runners) and not any(t.done() for t in tasks):
            await asyncio.sleep(0.01)
    readiness = Readiness(journal, runners, metrics, fleet.status if fleet else None)
    metrics.registry.before_scrape(readiness)  # journal and lag gauges current at every scrape
    metrics.start_at_zero([r.sink.name for r in runners], answers.STATUS)
    metrics.alerting_at_zero([r.name for r in rules if r.enabled], list(channels))

    own = OwnStream(journal, cfg.collector.id)
    ingest = Ingest(
        journal, keys, cfg.ingest.limits.limits(), metrics, own, cfg.ingest.body_timeout, cfg.ingest.follows_wait
    )
    monitor = IntegrityMonitor(
        store, [signer.verifier()], data / "verify-state.json", journal, alerts, own, metrics, cipher
    )
    proofs = ProofIndex(data / "proof-index.sqlite")
    verifiers = [signer.verifier()]
    admin = admin_api(cfg, data, reader, metrics, readiness, store, verifiers, alerts, cipher, proofs, own, monitor)
    sites = [await IngestSite(ingest, cfg.ingest, ssl_ctx).start(), await start_site(admin.app(), cfg.admin.listen)]
    log.info(
        "collector ready",
        extra=kv(ingest=cfg.ingest.listen, admin=cfg.admin.listen, agents_known=len(journal.marks.high)),
    )
    sdnotify.notify("READY=1")  # Type=notify: the sites are listening and the sinks open
    scheduler = AsyncIOScheduler()

    def holding(role: str = "sinks"):
        return (lambda: fleet.holding(role)) if fleet else (lambda: True)

    for s in sealers:
        scheduler.add_job(
            when_holding(holding(f"sealer-p{s.shard}"), until_stopped(sealer_tick)),
            "interval",
            args=[s],
            seconds=min(60.0, cfg.archive.checkpoint_interval / 4),
            max_instances=1,
        )
    scheduler.add_job(  # proofs are served from this index: keep it near the archive's head
        until_stopped(catch_up_proofs),
        "interval",
        args=[proofs, store, cipher],
        seconds=min(60.0, cfg.archive.checkpoint_interval),
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        when_holding(holding(), until_stopped(monitor.check)),
        "interval",
        seconds=cfg.verify.interval,
        max_instances=1,
        coalesce=True,
    )
    if cfg.index.type == "sqlite":  # Elasticsearch ages events out itself (ILM)
        # First pass a minute after start, not during it.
        scheduler.add_job(
            when_holding(holding(), until_stopped(prune_index)),
            "interval",
            args=[cfg.index.path or data / "index.sqlite", cfg.retention],
            seconds=3600,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now() + timedelta(minutes=1),
        )
    scheduler.start()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if config_path is not None:
        target = Reloadable(config_path, config_dir, cfg, ingest, alert_sink, dispatcher, admin)
        loop.add_signal_handler(signal.SIGHUP, lambda: reload(target))
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
    halted = None
    for task in done:
        if task is not stopper and task.exception():
            if isinstance(task.exception(), Halt):
                halted = task.exception()  # an operator's problem: the message says it all
                log.error("collector cannot go on", extra=kv(error=str(halted)))
            else:
                log.error("collector task failed", exc_info=task.exception())
    log.info("collector stopping")
    sdnotify.notify("STOPPING=1")
    for site in sites:
        await site.cleanup()
    scheduler.shutdown(wait=False)
    if fleet is not None:
        await fleet.stop()
    for r in runners:
        r.stop()
    dispatcher.stop()
    _, late = await asyncio.wait([*tasks, dispatching], timeout=STOP_SECONDS)
    if late:
        # A sink still inside a slow call to its store: everything acknowledged is in the
        # fsynced journal and every sink is idempotent from its cursor, so ending now is safe.
        log.error(
            "sinks did not stop in time; exiting without them",
            extra=kv(
                sinks=[t.get_name() for t in tasks if t in late] + (["dispatcher"] if dispatching in late else []),
                seconds=STOP_SECONDS,
            ),
        )
        journal.close()
        logging.shutdown()
        os._exit(2 if halted else 0)
    await SinkRunner._call(index.close)
    await alert_sink.close()
    alerts.close()
    journal.close()
    if isinstance(journal, NatsJournal):
        await journal.aclose()
    if halted is not None:
        raise halted


def quarantined(metrics: CollectorMetrics, alerts: AlertStore, channels: list[str], wake, entry) -> None:
    """A sink set an event aside: a counter, an error line and one alert per event."""
    metrics.quarantined.labels(entry.sink, entry.error_type).inc()
    log.error(
        "sink quarantined an event and goes on",
        extra=kv(
            sink=entry.sink,
            event_id=entry.event_id,
            tenant=entry.tenant,
            agent=entry.agent,
            cursor=entry.cursor,
            error=f"{entry.error_type}: {entry.error}",
        ),
    )
    alerts.record(
        Alert(
            alert_id("sink_quarantine", entry.tenant, f"{entry.sink}/{entry.event_id}", ""),
            "sink_quarantine",
            entry.tenant,
            entry.at,
            f"the {entry.sink} sink could not store event {entry.event_id or '?'} "
            f"({entry.error_type}); it is quarantined",
            {
                "sink": entry.sink,
                "event_id": entry.event_id,
                "agent": entry.agent,
                "seq": entry.seq,
                "cursor": entry.cursor,
                "error": f"{entry.error_type}: {entry.error}",
                "severity": "high",
                "kind": "quarantine",
            },
        ),
        tuple(channels),
        time.time(),
    )
    wake()


CONFIG_DIR_HELP = "a folder of drop-in *.yaml files merged into the config (each key set once)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="auditseal-collector")
    parser.add_argument("--version", action="version", version=version_text("auditseal-collector"))
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "check-config"):
        p_main = sub.add_parser(name)
        p_main.add_argument("--config", "-c", required=True)
        p_main.add_argument("--config-dir", help=CONFIG_DIR_HELP)
    p_test = sub.add_parser("test", help="check what the collector depends on")
    p_test.add_argument("what", choices=["output"], help="output: the archive and the index, reached and usable")
    p_test.add_argument("--config", "-c", required=True)
    p_test.add_argument("--config-dir", help=CONFIG_DIR_HELP)
    p_setup = sub.add_parser(
        "setup",
        help="install the Elasticsearch ILM policies and index templates (the index sink does on start) "
        "and, with --kibana, the Kibana objects; with no selector, templates and ILM",
    )
    p_setup.add_argument("--config", "-c", required=True)
    p_setup.add_argument("--config-dir", help=CONFIG_DIR_HELP)
    p_setup.add_argument("--templates", action="store_true", help="the index templates (and the @custom component)")
    p_setup.add_argument("--ilm", action="store_true", help="the ILM policies")
    p_setup.add_argument("--kibana", metavar="URL", help="the data view, searches and dashboard, into this Kibana")
    p_setup.add_argument("--space", help="a Kibana space id (default: the default space)")
    p_setup.add_argument("--overwrite", action="store_true", help="replace edited or newer ones (never @custom)")
    p_export = sub.add_parser("export", help="print what the Elasticsearch sink installs, or Kibana objects")
    p_export.add_argument("what", choices=["template", "ilm", "kibana"])
    p_export.add_argument("--config", "-c", help="collector config (its retention policy); default policy without")
    p_export.add_argument("--name", help="which template or ILM policy (default: the main one)")
    p_export.add_argument("--all", action="store_true", help="every one, as Kibana Dev Tools requests (PUT ...)")
    p_quarantine = sub.add_parser("quarantine", help="events sinks set aside: list them, or ask to retry them")
    p_quarantine.add_argument("action", choices=["list", "retry"])
    p_quarantine.add_argument("--config", "-c", required=True)
    p_quarantine.add_argument("--config-dir", help=CONFIG_DIR_HELP)
    p_quarantine.add_argument(
        "--sink",
        type=sink_name,
        help="one sink: index, archive, archive-p<k> (a journal partition's sealer); default: all",
    )
    p_quarantine.add_argument("--id", action="append", default=[], help="event id (repeatable; default: all)")
    p_quarantine.add_argument("--json", action="store_true", help="one JSON object per entry")
    args = parser.parse_args(argv)
    try:
        if args.command == "quarantine":
            return quarantine_command(args, collector_config.load(args.config, args.config_dir))
        if args.command == "test":
            from . import output_test

            return output_test.run(collector_config.load(args.config, args.config_dir))
        if args.command == "setup":
            return setup(collector_config.load(args.config, args.config_dir), args)
        if args.command == "export":
            cfg = collector_config.load(args.config) if args.config else None
            return export(args.what, cfg, args.name, args.all)
        cfg = collector_config.load(args.config, args.config_dir)
        for warning in preflight.check(cfg, args.config, load_hmac_keys, load_signer):
            print(f"auditseal-collector: warning: {warning}", file=sys.stderr)
        rules, channels = alerting_parts(cfg, args.config)
        if args.command == "check-config":
            print(f"{args.config}: ok ({len(rules)} rules, {len(channels)} alert channels)")
            return 0
        logs.setup(cfg.log_level)
        runtime.tune_gc()
        if cfg.journal.type == "local":
            lock = DataDirLock(cfg.collector.data_dir)
            lock.acquire()  # a second collector on the same data would corrupt both
        asyncio.run(run(cfg, rules, channels, args.config, args.config_dir))
        return 0
    except Halt as exc:
        print(f"auditseal-collector: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
