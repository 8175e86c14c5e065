"""Authentication of admin calls: one middleware in front of every ``/v1/`` route.

Three kinds of bearer credential, told apart by their shape:

- ``ast_<id>_<secret>``: a token made with ``auditseal token create``, looked up hashed in the
  token store on every call (so a revocation takes effect at once);
- a JWT (three base64url parts): verified by ``oidc.OidcVerifier`` when ``admin.oidc`` is set;
- anything else: compared (SHA-256, constant time) with ``admin.token_sha256``, admin role.

The request carries the ``auditseal.access.Principal`` (``request["principal"]``); handlers
ask it for the tenant scope. Calls are rate-limited per principal, refused credentials per
client address. Health, metrics, the OpenAPI description and the UI's static page stay open.
Error bodies never echo what was presented.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

from aiohttp import web

from auditseal.access import Principal
from auditseal.logs import kv
from auditseal.storage.tokens import TOKEN_RE, TokenStore, TokenStoreError

from .oidc import OidcVerifier, Refused
from .ratelimit import RateLimits

log = logging.getLogger("auditseal.collector.admin.auth")
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v1/openapi.json", "/ui", "/ui/", "/favicon.ico"})
OPEN_PREFIXES = ("/ui/",)


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def looks_like_jwt(token: str) -> bool:
    parts = token.split(".")
    return len(parts) == 3 and all(parts[:2])


class Authenticator:
    def __init__(
        self,
        token_hashes: list[str],
        store: TokenStore | None,
        oidc: OidcVerifier | None,
        limits: RateLimits,
        metrics=None,
    ):
        self.replace_hashes(token_hashes)
        self.store, self.oidc, self.limits, self.metrics = store, oidc, limits, metrics

    def replace_hashes(self, token_hashes: list[str]) -> None:
        """SIGHUP: the config's admin tokens (one assignment: a request sees the old or the new list)."""
        self._hashes = [bytes.fromhex(h) for h in token_hashes]

    async def principal(self, authorization: str) -> Principal:
        """The caller, or ``Refused`` with a reason fit for the answer."""
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Refused("missing bearer token")
        if TOKEN_RE.fullmatch(token):
            if self.store is None:
                raise Refused("invalid, expired or revoked token")
            found = self.store.principal(token)
            if found is None:
                raise Refused("invalid, expired or revoked token")
            return found
        if looks_like_jwt(token):
            if self.oidc is None:
                raise Refused("OIDC tokens are not accepted here (admin.oidc is not configured)")
            return await self.oidc.principal(token)
        digest = hashlib.sha256(token.encode()).digest()
        for number, known in enumerate(self._hashes):
            if hmac.compare_digest(digest, known):
                return Principal("config-token", f"config-token-{number}", ("admin",), None)
        raise Refused("invalid, expired or revoked token")

    def _refuse(self, reason: str, status: int, headers: dict | None = None) -> web.Response:
        if self.metrics is not None:
            self.metrics.admin_refused.labels("rate_limited" if status == 429 else "unauthorised").inc()
        return web.json_response(
            {"error": reason, "reason": "rate_limited" if status == 429 else "unauthorised"},
            status=status,
            headers=headers,
        )

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        if is_open(request.path):
            return await handler(request)
        now = time.monotonic()
        try:
            principal = await self.principal(request.headers.get("Authorization", ""))
        except Refused as exc:
            wait = self.limits.take(f"addr:{request.remote}", now)
            if wait:
                return self._refuse("too many refused calls", 429, {"Retry-After": RateLimits.retry_after(wait)})
            log.warning("admin call refused", extra=kv(path=request.path, remote=request.remote, reason=str(exc)))
            return self._refuse(str(exc), 401, {"WWW-Authenticate": "Bearer"})
        except TokenStoreError as exc:
            log.error("token store unreadable", extra=kv(error=str(exc)))
            return web.json_response(
                {"error": "credentials cannot be checked now; retry later", "reason": "unavailable"},
                status=503,
                headers={"Retry-After": "5"},
            )
        wait = self.limits.take(principal.name, now)
        if wait:
            return self._refuse("rate limit exceeded", 429, {"Retry-After": RateLimits.retry_after(wait)})
        request["principal"] = principal
        return await handler(request)
