"""A ready-to-run local setup: dev PKI, an admin token, and agent + collector configs.

Used by ``make run`` (``auditseal dev setup``) and by the end-to-end tests, so both run
exactly the same configuration shape.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

from auditseal.dev import pki
from auditseal.formats import crypto, keys


# The default rule pack, in a checkout (``make run`` uses it).
# The default rule pack: configs/rules in the source tree, /etc/auditseal/rules when installed.
RULES_DIR = Path(__file__).resolve().parents[2] / "configs" / "rules"
if not RULES_DIR.is_dir():
    RULES_DIR = Path("/etc/auditseal/rules")


@dataclass(frozen=True)
class DevSetup:
    root: Path
    agent_config: Path
    collector_config: Path
    token: str
    ingest_url: str
    admin_url: str
    watch_dir: Path


def setup(
    root: Path,
    *,
    agent_id: str = "demo-agent",
    tenants: tuple[str, ...] = ("acme", "globex"),
    ingest_port: int = 9443,
    admin_port: int = 9444,
    agent_overrides: dict | None = None,
    collector_overrides: dict | None = None,
    webhook_url: str | None = None,
    rules_dir: Path | None = None,
) -> DevSetup:
    root = Path(root).resolve()
    pki_dir = root / "pki"
    if not (pki_dir / "ca.crt").exists():
        pki.init_ca(pki_dir)
        pki.issue_collector(pki_dir, "local", ["localhost", "127.0.0.1"])
    if not (pki_dir / f"agent-{agent_id}.crt").exists():
        pki.issue_agent(pki_dir, agent_id, list(tenants))
    key_dir = root / "keys"
    if not (key_dir / "auditseal.local.key").exists():
        keys.init(key_dir, "auditseal.local")
    if not (key_dir / "archive.key").exists():
        crypto.new_key_file(key_dir / "archive.key")
    token_path = root / "admin-token"
    if token_path.exists():
        token = token_path.read_text().strip()
    else:
        token = secrets.token_urlsafe(32)
        fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
    watch_dir = root / "logs"
    watch_dir.mkdir(parents=True, exist_ok=True)
    ingest_url = f"https://127.0.0.1:{ingest_port}"
    admin_url = f"http://127.0.0.1:{admin_port}"
    collector = {
        "collector": {"id": "local", "data_dir": str(root / "collector")},
        "ingest": {
            "listen": f"127.0.0.1:{ingest_port}",
            "tls": {
                "cert": str(pki_dir / "collector-local.crt"),
                "key": str(pki_dir / "collector-local.key"),
                "client_ca": str(pki_dir / "ca.crt"),
            },
            "hmac_keys_file": str(pki_dir / "hmac-keys.yaml"),
        },
        "archive": {
            "signing_key": str(key_dir / "auditseal.local.key"),
            "encryption_key": str(key_dir / "archive.key"),
        },
        "admin": {"listen": f"127.0.0.1:{admin_port}", "token_sha256": [hashlib.sha256(token.encode()).hexdigest()]},
    }
    alerting: dict = {}
    if rules_dir is not None:
        alerting["rules_dir"] = str(Path(rules_dir).resolve())
    if webhook_url:
        secret_path = root / "webhook-secret"
        if not secret_path.exists():  # kept: a receiver may already hold it
            fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
        alerting["channels"] = {
            "webhook": {"type": "webhook", "url": webhook_url, "secret_file": str(secret_path), "timeout": 5}
        }
    if alerting:
        collector["alerting"] = alerting
    agent = {
        "agent": {"id": agent_id, "state_dir": str(root / "agent")},
        "inputs": [{"type": "file", "name": "app-audit", "paths": [str(watch_dir / "*.jsonl")], "tenant": tenants[0]}],
        "output": {
            "collectors": [ingest_url],
            "tls": {
                "cert": str(pki_dir / f"agent-{agent_id}.crt"),
                "key": str(pki_dir / f"agent-{agent_id}.key"),
                "ca": str(pki_dir / "ca.crt"),
            },
            "hmac_key_file": str(pki_dir / f"agent-{agent_id}.hmac.yaml"),
            "backoff": {"initial": 0.2, "max": 2.0},
        },
    }
    _merge(collector, collector_overrides or {})
    _merge(agent, agent_overrides or {})
    collector_path, agent_path = root / "collector.yaml", root / "agent.yaml"
    collector_path.write_text(yaml.safe_dump(collector, sort_keys=False))
    agent_path.write_text(yaml.safe_dump(agent, sort_keys=False))
    return DevSetup(root, agent_path, collector_path, token, ingest_url, admin_url, watch_dir)


def _merge(base: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
