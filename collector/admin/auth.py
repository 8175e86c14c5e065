"""Authentication of admin calls: one middleware in front of every ``/v1/`` route.

Today one kind of credential: a bearer token whose SHA-256 is configured
(``admin.token_sha256``), compared in constant time. The request carries the principal
(``request["principal"]``) for the handlers, so roles plug in here, not in each handler.
Health and metrics stay open (load balancers and Prometheus scrape them).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from aiohttp import web

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


@dataclass(frozen=True)
class Principal:
    kind: str  # "token"
    name: str  # which configured token (its index), never the secret


class TokenAuth:
    def __init__(self, token_hashes: list[str]):
        self._hashes = [bytes.fromhex(h) for h in token_hashes]

    def principal(self, authorization: str) -> Principal | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        digest = hashlib.sha256(token.strip().encode()).digest()
        for number, known in enumerate(self._hashes):
            if hmac.compare_digest(digest, known):
                return Principal("token", f"token-{number}")
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        if request.path in OPEN_PATHS:
            return await handler(request)
        principal = self.principal(request.headers.get("Authorization", ""))
        if principal is None:
            return web.json_response(
                {"error": "missing or invalid bearer token", "reason": "unauthorised"},
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        request["principal"] = principal
        return await handler(request)
