"""What the collector checks before it runs (``check-config`` and ``run``)."""

from __future__ import annotations

from auditseal.formats.crypto import SegmentCipher
from auditseal.preflight import Preflight

from .admin.oidc import load_jwks_file


def check(cfg, config_path, load_hmac_keys, load_signer) -> list[str]:
    """Raise ``ConfigError`` on the first problem; return warnings."""
    p = Preflight(config_path)
    t = cfg.ingest.tls
    p.tls_pair(("ingest", "tls"), t.cert, t.key, t.client_ca, "client_ca")
    keys = p.loads(("ingest", "hmac_keys_file"), cfg.ingest.hmac_keys_file, load_hmac_keys)
    if not keys:
        p.warn(("ingest", "hmac_keys_file"), "names no agent: every batch will be refused")
    p.loads(("archive", "signing_key"), cfg.archive.signing_key, load_signer)
    if cfg.archive.encryption_key:
        p.loads(("archive", "encryption_key"), cfg.archive.encryption_key, SegmentCipher.load)
    data = cfg.collector.data_dir
    p.writable_dir(("collector", "data_dir"), data)
    if cfg.index.type == "sqlite" and cfg.index.path:
        p.free_to_write(("index", "path"), cfg.index.path)
    if cfg.archive.type == "local" and cfg.archive.path:
        p.writable_dir(("archive", "path"), cfg.archive.path)
    oidc = cfg.admin.oidc
    if oidc is not None and oidc.jwks_file is not None:
        p.loads(("admin", "oidc", "jwks_file"), oidc.jwks_file, load_jwks_file)
    if not cfg.admin.token_sha256 and oidc is None:
        p.warn(
            ("admin", "token_sha256"),
            "no admin token or OIDC configured: only tokens made with `auditseal token create` are accepted",
        )
    return p.warnings
