"""Composition of the admin API and what guards it (called by ``collector.main``)."""

from __future__ import annotations

import asyncio
import logging

from auditseal.audit.proof_index import IndexGap, ProofIndex
from auditseal.errors import Retryable
from auditseal.logs import kv
from auditseal.storage import archive
from auditseal.storage.tokens import TokenStore

from .api import Admin
from .auth import Authenticator
from .oidc import OidcVerifier
from .ratelimit import RateLimits
from .trail import AdminTrail

log = logging.getLogger("auditseal.collector.admin")


def admin_api(cfg, data, reader, metrics, readiness, store, verifiers, alerts, cipher, proofs, own, monitor) -> Admin:
    """The admin API and what guards it: token store, OIDC, rate limits, the audit trail."""
    limits = RateLimits(cfg.admin.rate_limit.per_second, cfg.admin.rate_limit.burst)
    tokens = TokenStore(cfg.admin.token_store or data / "tokens.sqlite")
    oidc = OidcVerifier(cfg.admin.oidc) if cfg.admin.oidc else None
    auth = Authenticator(cfg.admin.token_sha256, tokens, oidc, limits, metrics)
    trail = AdminTrail(own, cfg.admin.audit_tenant, metrics)
    return Admin(auth, trail, reader, metrics, readiness, store, verifiers, alerts, cipher, proofs, monitor)


async def catch_up_proofs(proofs: ProofIndex, store, cipher) -> None:
    def work() -> None:
        for tenant, part in archive.list_logs(store):
            try:
                proofs.catch_up(store, f"{tenant}/{part}", cipher)
            except IndexGap as exc:  # verify reports it; proofs of that log are refused meanwhile
                log.warning("proof index waits", extra=kv(error=str(exc)))

    try:
        await asyncio.to_thread(work)
    except (Retryable, OSError) as exc:  # the archive is down: the next run catches up
        log.warning("proof index cannot read the archive", extra=kv(error=str(exc)))
