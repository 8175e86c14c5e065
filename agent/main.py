"""auditseal-agent: the composition root (config → inputs, spool, shipper)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
import time
from pathlib import Path

import orjson
import yaml

from auditseal import logs, runtime, sdnotify, tls, version_text
from auditseal.backoff import Backoff
from auditseal.errors import Halt
from auditseal.logs import kv
from auditseal.storage.files import write_atomic

from . import config as agent_config
from . import preflight, status
from .batching import BatchPolicy
from .inputs import REGISTRY, Chunk
from .inputs import file as _file_input  # noqa: F401  (registers "file")
from .inputs import syslog as _syslog_input  # noqa: F401  (registers "syslog")
from .metrics import AgentMetrics
from .metrics_http import Heartbeat, MetricsServer
from .normalise import Source
from .pipeline import DeadLetterFile, SpoolWriter
from .shipper import Shipper
from .spool import Spool

log = logging.getLogger("auditseal.agent")


def load_hmac_key(path: Path) -> tuple[str, bytes]:
    try:
        data = yaml.safe_load(path.read_text())
        return str(data["key_id"]), bytes.fromhex(data["secret"])
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        # Never echo the file's content: it is a secret.
        raise Halt(f"{path}: cannot read HMAC key (need key_id and hex secret): {type(exc).__name__}") from None


def build_inputs(cfg: agent_config.AgentConfig, positions: dict, metrics: AgentMetrics):
    host = socket.gethostname()
    return [REGISTRY[i.type](i, positions.get(i.name, {}), Source(i.tenant, host), metrics) for i in cfg.inputs]


def report_recovery(recovered, metrics: AgentMetrics, state: Path) -> None:
    """Say loudly what start-up recovery repaired; keep it for `auditseal-agent status`."""
    for what in recovered.degraded:
        log.error("spool damage repaired at start", extra=kv(repair=what))
    lost = sum(b - a + 1 for a, b in recovered.lost)
    if lost:
        log.error(
            "events lost from the spool; declared to the collector as a sequence gap",
            extra=kv(ranges=[f"{a}-{b}" for a, b in recovered.lost], events=lost),
        )
        metrics.lost_events.inc(lost)
    metrics.degraded.set(1 if recovered.degraded or recovered.lost else 0)
    write_atomic(
        state / "status.json",
        orjson.dumps(
            {"started": time.time(), "degraded": recovered.degraded, "lost": [list(g) for g in recovered.lost]}
        ),
    )


class AgentFailed(Exception):
    """A pipeline task died: exit non-zero so the service manager restarts the agent."""


async def run(config_path: str, cfg: agent_config.AgentConfig, config_dir: str | None = None) -> None:
    """Run until SIGTERM/SIGINT; SIGHUP re-reads the config and rebuilds the pipeline.

    A reload stops inputs, flushes the spool and stops the shipper exactly as a shutdown
    does, then starts again from the spool: nothing read is lost or read twice. A config
    that does not load is refused (logged) and the running one kept."""
    metrics = AgentMetrics()
    heartbeat = Heartbeat()
    beating = asyncio.create_task(heartbeat.run())
    server = None
    if cfg.metrics_listen:
        try:
            server = MetricsServer(cfg.metrics_listen, metrics.registry, heartbeat)
        except OSError as exc:
            raise Halt(f"metrics_listen {cfg.metrics_listen}: {exc.strerror or exc}") from None
        server.start()
    try:
        while await run_pipeline(cfg, metrics) == "reload":
            sdnotify.notify("RELOADING=1")
            try:
                new = agent_config.load(config_path, config_dir)
                load_hmac_key(new.output.hmac_key_file)
                if (new.agent.id, new.agent.state_dir) != (cfg.agent.id, cfg.agent.state_dir):
                    raise Halt("agent.id and agent.state_dir change only with a restart")
            except Halt as exc:
                log.error("config reload refused; keeping the running config", extra=kv(error=str(exc)))
                continue
            cfg = new
            logs.setup(cfg.log_level)
            log.info("config reloaded", extra=kv(config=config_path))
    finally:
        beating.cancel()
        if server:
            await asyncio.to_thread(server.stop)


async def run_pipeline(cfg: agent_config.AgentConfig, metrics: AgentMetrics) -> str:
    """One life of the pipeline; returns "stop" or "reload"."""
    state = cfg.agent.state_dir
    key_id, key = load_hmac_key(cfg.output.hmac_key_file)
    ssl_ctx = tls.client_context(str(cfg.output.tls.cert), str(cfg.output.tls.key), str(cfg.output.tls.ca))
    spool = Spool(state / "spool", cfg.spool.max_segment_bytes, cfg.spool.max_bytes)
    recovered = await asyncio.to_thread(spool.open)
    report_recovery(recovered, metrics, state)
    log.info(
        "agent starting",
        extra=kv(
            agent=cfg.agent.id,
            next_seq=recovered.next_seq,
            acked_seq=recovered.acked_seq,
            degraded=bool(recovered.degraded),
        ),
    )
    spooled = asyncio.Event()
    writer = SpoolWriter(
        spool,
        cfg.agent.id,
        dict(recovered.positions),
        DeadLetterFile(state / "dead-letter" / "malformed.ndjson"),
        metrics,
        spooled,
    )
    shipper = Shipper(
        spool,
        cfg.agent.id,
        key_id,
        key,
        cfg.output.collectors,
        ssl_ctx,
        BatchPolicy(cfg.batch.max_events, cfg.batch.max_bytes, cfg.batch.max_age),
        Backoff(cfg.output.backoff.initial, cfg.output.backoff.max),
        cfg.output.timeout,
        state / "dead-letter",
        metrics,
        spooled,
        cfg.output.pipelining,
    )
    inputs = build_inputs(cfg, recovered.positions, metrics)
    metrics.start_at_zero([i.name for i in cfg.inputs])

    outcome = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()
    for sig, what in ((signal.SIGTERM, "stop"), (signal.SIGINT, "stop"), (signal.SIGHUP, "reload")):
        loop.add_signal_handler(sig, lambda what=what: outcome.done() or outcome.set_result(what))
    writer_task = asyncio.create_task(writer.run())
    shipper_task = asyncio.create_task(shipper.run())
    input_tasks = [asyncio.create_task(i.run(writer.submit)) for i in inputs]
    sdnotify.notify("READY=1")  # Type=notify: the spool is open and the inputs are running
    done, _ = await asyncio.wait(
        [outcome, writer_task, shipper_task, *input_tasks], return_when=asyncio.FIRST_COMPLETED
    )
    failed = [t for t in done if t is not outcome and t.exception()]
    for task in failed:
        log.error("agent task failed", exc_info=task.exception())
    log.info("agent stopping: inputs first, then the spool, then the shipper")
    sdnotify.notify("STOPPING=1")
    for i in inputs:
        i.stop()
    await asyncio.gather(*input_tasks, return_exceptions=True)
    await writer.close()
    await asyncio.gather(writer_task, return_exceptions=True)
    shipper.stop()
    await asyncio.gather(shipper_task, return_exceptions=True)
    spool.close()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.remove_signal_handler(sig)
    if failed:
        raise AgentFailed(f"{len(failed)} pipeline task(s) failed; see the log")
    return outcome.result() if outcome.done() else "stop"


async def dry_run(cfg: agent_config.AgentConfig) -> None:
    """Print the events one pass over the inputs would produce; commit nothing."""
    metrics = AgentMetrics()
    out = sys.stdout.buffer

    async def show(chunk: Chunk) -> None:
        for doc in chunk.events:
            out.write(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS) + b"\n")
        for d in chunk.dead:
            print(f"# dead-letter {d.origin}@{d.offset}: {d.reason}: {d.message}", file=sys.stderr)

    for tailer in build_inputs(cfg, {}, metrics):
        if not isinstance(tailer, _file_input.FileTailer):
            print(f"# dry run reads files only; input {tailer.name!r} skipped", file=sys.stderr)
            continue
        for path in tailer.discover():
            while (chunk := tailer.read_once(path)) is not None:
                await show(chunk)
    out.flush()


CONFIG_DIR_HELP = "a folder of drop-in *.yaml files merged into the config (inputs append; other keys once)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="auditseal-agent")
    parser.add_argument("--version", action="version", version=version_text("auditseal-agent"))
    sub = parser.add_subparsers(dest="command", required=True)
    events = sub.add_parser(
        "check-events",
        help="check an application's JSON audit lines against the event schema (docs/application-events.md)",
    )
    events.add_argument("files", nargs="+", metavar="FILE")
    test = sub.add_parser("test", help="check what the agent depends on")
    test.add_argument("what", choices=["output"], help="output: TLS, certificate, HMAC key and tenants, per collector")
    test.add_argument("--config", "-c", required=True)
    test.add_argument("--config-dir", help=CONFIG_DIR_HELP)
    for name in ("run", "check-config", "status"):
        p = sub.add_parser(name)
        p.add_argument("--config", "-c", required=True)
        p.add_argument("--config-dir", help=CONFIG_DIR_HELP)
        if name == "run":
            p.add_argument("--dry-run", action="store_true", help="print events, ship and commit nothing")
        if name == "status":
            p.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "check-events":
        from .app_events import check_files  # jsonschema only for this command

        return check_files(args.files)
    try:
        cfg = agent_config.load(args.config, args.config_dir)
        if args.command != "status":
            for warning in preflight.check(cfg, args.config, load_hmac_key):
                print(f"auditseal-agent: warning: {warning}", file=sys.stderr)
        if args.command == "test":
            from . import output_test

            return asyncio.run(output_test.run(cfg, load_hmac_key))
        if args.command == "check-config":
            print(f"{args.config}: ok")
            return 0
        if args.command == "status":
            report = status.collect(cfg.agent.state_dir)
            if args.json:
                sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
            else:
                print(status.render(report))
            return 0
        logs.setup(cfg.log_level)
        runtime.tune_gc()
        runtime.one_malloc_arena()
        asyncio.run(dry_run(cfg) if args.dry_run else run(args.config, cfg, args.config_dir))
        return 0
    except Halt as exc:
        print(f"auditseal-agent: {exc}", file=sys.stderr)
        return 2
    except AgentFailed as exc:
        print(f"auditseal-agent: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
