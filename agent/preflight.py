"""What the agent checks before it runs (``check-config`` and ``run``)."""

from __future__ import annotations

from auditseal.preflight import Preflight

from .config import SyslogInput


def check(cfg, config_path, load_hmac_key) -> list[str]:
    """Raise ``ConfigError`` on the first problem; return warnings."""
    p = Preflight(config_path)
    t = cfg.output.tls
    p.tls_pair(("output", "tls"), t.cert, t.key, t.ca, "ca")
    p.loads(("output", "hmac_key_file"), cfg.output.hmac_key_file, load_hmac_key)
    p.writable_dir(("agent", "state_dir"), cfg.agent.state_dir)
    for number, url in enumerate(cfg.output.collectors):
        if not url.startswith("https://"):
            raise p.error(("output", "collectors", number), f"{url!r}: collectors are https:// URLs (mTLS)")
    for number, item in enumerate(cfg.inputs):
        tls = item.tls if isinstance(item, SyslogInput) else None  # only syslog listens with TLS
        if tls is not None:
            p.tls_pair(("inputs", number, "tls"), tls.cert, tls.key, tls.client_ca, "client_ca")
    return p.warnings
