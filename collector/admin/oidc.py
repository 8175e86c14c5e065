"""OIDC bearer tokens (JWTs) for the admin API, verified with PyJWT against a JWKS.

What is checked: the signature with a key of the JWKS named by the token's ``kid`` (the only
key when the set has one and the token names none), the algorithm against the configured
allow-list (asymmetric only: ``none`` and the HMAC family are refused by the config model,
so a public key can never serve as an HMAC secret), ``iss``, ``aud``, ``exp`` (required),
``nbf``/``iat`` when present, with ``leeway`` seconds. Roles come from ``roles_claim`` (a list
of ``admin``, ``auditor``, ``tenant-auditor:<t>``); an auditor's tenants from ``tenants_claim``.

The JWKS is a file (read again when it changes) or a URL (fetched every ``jwks_refresh``
seconds and, at most every ``MIN_REFETCH`` seconds, when a token names an unknown key: a key
rotated at the identity provider is picked up without a restart).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import aiohttp
import jwt
import orjson

from auditseal.access import Principal
from auditseal.errors import Halt
from auditseal.logs import kv

log = logging.getLogger("auditseal.collector.admin.oidc")
MIN_REFETCH = 30.0
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


class Refused(Exception):
    """A bearer JWT not accepted; the message says why (never the token)."""


def parse_jwks(body: bytes) -> dict[str | None, jwt.PyJWK]:
    data = orjson.loads(body)
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list):
        raise ValueError("a JWKS is an object with a 'keys' list")
    found: dict[str | None, jwt.PyJWK] = {}
    for entry in keys:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            found[entry.get("kid")] = jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            continue  # a key of a kind we cannot use: the others still serve
    return found


def load_jwks_file(path: Path) -> dict[str | None, jwt.PyJWK]:
    """For the preflight: the file's usable keys, or ``Halt`` saying why there are none."""
    try:
        keys = parse_jwks(path.read_bytes())
    except ValueError as exc:
        raise Halt(f"{path}: not a JWKS ({exc})") from None
    if not keys:
        raise Halt(f"{path}: the JWKS holds no signing key this collector can use")
    return keys


class JwksSource:
    def __init__(self, file: Path | None, url: str | None, refresh: float):
        self.file, self.url, self.refresh = file, url, refresh
        self.keys: dict[str | None, jwt.PyJWK] = {}
        self._stamp: tuple | None = None
        self._fetched = 0.0
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        await self._load(force=False)
        if kid not in self.keys and not (kid is None and len(self.keys) == 1):
            await self._load(force=True)
        if kid is None and len(self.keys) == 1:
            return next(iter(self.keys.values()))
        if kid is None:
            raise Refused("the token names no key (kid) and the JWKS holds several")
        if kid not in self.keys:
            raise Refused("the token's key id is not in the JWKS")
        return self.keys[kid]

    async def _load(self, force: bool) -> None:
        async with self._lock:
            if self.file is not None:
                try:
                    st = self.file.stat()
                    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
                    if stamp != self._stamp:
                        self.keys, self._stamp = parse_jwks(self.file.read_bytes()), stamp
                except (OSError, ValueError) as exc:
                    log.error("JWKS file unreadable; keeping the keys last read", extra=kv(error=str(exc)))
                return
            now = time.monotonic()
            due = now - self._fetched >= (MIN_REFETCH if force else self.refresh)
            if not due or self.url is None:
                return
            self._fetched = now
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                    async with session.get(self.url) as resp:
                        resp.raise_for_status()
                        self.keys = parse_jwks(await resp.read())
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                log.error("JWKS fetch failed; keeping the keys last fetched", extra=kv(error=str(exc)))


class OidcVerifier:
    def __init__(self, cfg):
        self.cfg = cfg
        self.jwks = JwksSource(cfg.jwks_file, cfg.jwks_url, cfg.jwks_refresh)

    async def principal(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Refused("not a well-formed JWT") from None
        alg = header.get("alg")
        if alg not in self.cfg.algorithms:
            raise Refused(f"algorithm {str(alg)[:16]!r} is not allowed")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Refused("kid is not a string")
        key = await self.jwks.key(kid)
        declared = key._jwk_data.get("alg")
        if KEY_TYPES.get(alg[:2]) != key.key_type or declared not in (None, alg):
            raise Refused("the key named is not for the token's algorithm")
        if key.key_type in ("EC", "OKP") and key.algorithm_name != alg:  # the curve decides
            raise Refused("the key named is not for the token's algorithm")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.cfg.audience,
                issuer=self.cfg.issuer,
                leeway=self.cfg.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Refused("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Refused("the token is not valid yet") from None
        except jwt.InvalidIssuerError:
            raise Refused("wrong issuer") from None
        except jwt.InvalidAudienceError:
            raise Refused("wrong audience") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Refused(f"claim {exc.claim} is required") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise Refused("bad signature or malformed token") from None
        roles = claims.get(self.cfg.roles_claim)
        if isinstance(roles, str):
            roles = [roles]
        tenants = claims.get(self.cfg.tenants_claim) or []
        if not isinstance(roles, list) or not isinstance(tenants, list):
            raise Refused(f"claims {self.cfg.roles_claim}/{self.cfg.tenants_claim} must be lists")
        grants = [(r, tenants if r == "auditor" else []) for r in roles]
        try:
            return Principal.of("oidc", f"oidc:{str(claims['sub'])[:200]}", grants)
        except ValueError as exc:
            raise Refused(f"claim {self.cfg.roles_claim}: {exc}") from None
