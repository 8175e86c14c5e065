"""What a running collector re-reads on SIGHUP (``reload``), and the two loaders the start
shares with it: agents' HMAC keys and the alerting rules and channels."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from auditseal import logs, sdnotify
from auditseal.errors import ConfigError, Halt
from auditseal.logs import kv
from auditseal.rules.model import load_rules

from . import config as collector_config
from .admin.api import Admin
from .channels import registry as channel_registry
from .channels.dispatcher import Dispatcher
from .ingest.server import Ingest
from .sinks.alerting import AlertSink

log = logging.getLogger("auditseal.collector")


# What a SIGHUP cannot change: a difference in these sections is logged as needing a restart.
RESTART_SECTIONS = ("collector", "journal", "index", "archive", "retention", "verify", "admin")


@dataclass
class Reloadable:
    """What SIGHUP may change in a running collector, and the config it was built from."""

    config_path: str
    config_dir: str | None
    cfg: collector_config.CollectorConfig
    ingest: Ingest
    alert_sink: AlertSink
    dispatcher: Dispatcher
    admin: Admin


def reload(target: Reloadable) -> None:
    """SIGHUP: re-read what can change without a restart — agents' HMAC keys, the admin tokens
    of ``admin.token_sha256``, alert rules (``rules_dir``) and channels, the log level — all or
    nothing: a config, key or rule file that does not load is refused and the running one kept.
    Stored tokens (``auditseal token``) are looked up on every call. Other changes are logged as
    needing a restart."""
    sdnotify.notify("RELOADING=1")
    try:
        new = collector_config.load(target.config_path, target.config_dir)
        keys = load_hmac_keys(new.ingest.hmac_keys_file)
        rules, channels = alerting_parts(new, target.config_path)
    except (ConfigError, Halt) as exc:
        log.error("reload refused; keeping the running config", extra=kv(error=str(exc)))
    else:
        target.ingest.replace_keys(keys)
        target.admin.auth.replace_hashes(new.admin.token_sha256)
        target.alert_sink.replace_rules(rules, new.alerting.channels_for)
        target.alert_sink.metrics.alerting_at_zero([r.name for r in rules if r.enabled], list(channels))
        policies = {n: c.retry.policy() for n, c in new.alerting.channels.items()}
        target.dispatcher.replace_channels(channels, policies)
        logs.setup(new.log_level)
        ingest_changed = new.ingest.model_copy(update={"hmac_keys_file": target.cfg.ingest.hmac_keys_file})
        new_admin = new.admin.model_copy(update={"token_sha256": target.cfg.admin.token_sha256})
        stale = [s for s in RESTART_SECTIONS if getattr(new, s) != getattr(target.cfg, s) and s != "admin"]
        stale += ["admin"] if new_admin != target.cfg.admin else []
        stale += ["ingest"] if ingest_changed != target.cfg.ingest else []
        reloaded = {"rules_dir", "channels", "default_channels"}
        if new.alerting.model_dump(exclude=reloaded) != target.cfg.alerting.model_dump(exclude=reloaded):
            stale.append("alerting (lateness, time zones, snapshots)")
        if stale:
            log.warning("reload: these changes need a restart", extra=kv(sections=",".join(stale)))
        log.info(
            "reloaded",
            extra=kv(agents=len(keys), keys=sum(map(len, keys.values())), rules=len(rules), channels=len(channels)),
        )
    sdnotify.notify("READY=1")


def load_hmac_keys(path: Path) -> dict[str, dict[str, bytes]]:
    """``{agent: {key_id: hex secret}}``; several keys per agent may be valid (rotation)."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return {
            str(agent): {str(kid): bytes.fromhex(secret) for kid, secret in keys.items()}
            for agent, keys in data.items()
        }
    except (OSError, AttributeError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise Halt(f"{path}: cannot read HMAC keys (need agent: {{key_id: hex}}): {type(exc).__name__}") from None


def alerting_parts(cfg: collector_config.CollectorConfig, config_path) -> tuple[list, dict]:
    """The rules (built-in and ``rules_dir``'s) and the channels, their secrets read: a
    problem is a config error naming its file and line, before anything runs."""
    from auditseal.preflight import Preflight

    p = Preflight(config_path)
    channels = {}
    for name, channel_cfg in cfg.alerting.channels.items():
        secret = next(k for k in ("secret_file", "url_file", "routing_key_file") if hasattr(channel_cfg, k))
        key = ("alerting", "channels", name, secret)
        channels[name] = p.loads(
            key, getattr(channel_cfg, secret), lambda _p, n=name, c=channel_cfg: channel_registry.build(n, c)
        )
    return load_rules(cfg.alerting.rules_dir, frozenset(cfg.alerting.channels)), channels
