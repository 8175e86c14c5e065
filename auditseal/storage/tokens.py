"""Admin API tokens, stored hashed in the collector's state (``<data_dir>/tokens.sqlite``).

A token reads ``ast_<id>_<secret>``: ``id`` (12 hex digits) names it in lists, logs and audit
events; ``secret`` (32 random bytes, base64url) never leaves the ``create`` command's output.
The store keeps SHA-256 of the whole token, its role and tenants, and when it was created,
expires and was revoked. The collector looks a token up on every call, so a revocation or a
new token takes effect at once, without a restart. Layout version: ``PRAGMA user_version`` 1.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import orjson

from auditseal.access import Principal, parse_role

VERSION = 1
TOKEN_RE = re.compile(r"^ast_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id       TEXT PRIMARY KEY,
    sha256   TEXT NOT NULL UNIQUE,
    name     TEXT NOT NULL,
    role     TEXT NOT NULL,
    tenants  TEXT NOT NULL,
    created  TEXT NOT NULL,
    expires  TEXT,
    revoked  TEXT
);
"""


class TokenStoreError(Exception):
    """The store cannot be read or written (its path, its version)."""


@dataclass(frozen=True)
class TokenRecord:
    id: str
    name: str
    role: str
    tenants: tuple[str, ...]
    created: str
    expires: str | None
    revoked: str | None

    def public(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "tenants": list(self.tenants),
            "created": self.created,
            "expires": self.expires,
            "revoked": self.revoked,
        }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, isolation_level=None, timeout=10, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version not in (0, VERSION):
                    raise TokenStoreError(f"{self.path}: token store version {version}, this build reads {VERSION}")
                conn.executescript(SCHEMA)
                conn.execute(f"PRAGMA user_version = {VERSION}")
            except (OSError, sqlite3.Error) as exc:
                raise TokenStoreError(f"{self.path}: {exc}") from exc
            self._conn = conn
        return self._conn

    def create(self, name: str, role: str, tenants: list[str], days: float | None = None) -> tuple[str, TokenRecord]:
        """A new token (the only time its secret is seen) and its record."""
        role, _ = parse_role(role, tenants)
        if role.startswith("tenant-auditor:"):
            tenants = [role.split(":", 1)[1]]
        ident = secrets.token_hex(6)
        token = f"ast_{ident}_{secrets.token_urlsafe(32)}"
        now = _now()
        record = TokenRecord(
            ident,
            name or ident,
            role,
            tuple(sorted(set(tenants))),
            _iso(now),
            _iso(now + dt.timedelta(days=days)) if days else None,
            None,
        )
        try:
            self._connection().execute(
                "INSERT INTO tokens (id, sha256, name, role, tenants, created, expires, revoked) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (
                    ident,
                    digest(token),
                    record.name,
                    role,
                    orjson.dumps(list(record.tenants)).decode(),
                    record.created,
                    record.expires,
                ),
            )
        except sqlite3.Error as exc:
            raise TokenStoreError(f"{self.path}: {exc}") from exc
        return token, record

    def revoke(self, ident: str) -> bool:
        try:
            done = (
                self._connection()
                .execute("UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL", (_iso(_now()), ident))
                .rowcount
            )
        except sqlite3.Error as exc:
            raise TokenStoreError(f"{self.path}: {exc}") from exc
        return done == 1

    def records(self) -> list[TokenRecord]:
        try:
            rows = self._connection().execute(
                "SELECT id, name, role, tenants, created, expires, revoked FROM tokens ORDER BY created, id"
            )
            return [TokenRecord(r[0], r[1], r[2], tuple(orjson.loads(r[3])), r[4], r[5], r[6]) for r in rows]
        except sqlite3.Error as exc:
            raise TokenStoreError(f"{self.path}: {exc}") from exc

    def principal(self, token: str, now: dt.datetime | None = None) -> Principal | None:
        """The principal of a live token; None for anything else (unknown, revoked, expired)."""
        if not TOKEN_RE.fullmatch(token):
            return None
        wanted = digest(token)
        try:
            found = (
                self._connection()
                .execute("SELECT id, sha256, role, tenants, expires, revoked FROM tokens WHERE sha256 = ?", (wanted,))
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise TokenStoreError(f"{self.path}: {exc}") from exc
        if found is None or not hmac.compare_digest(found[1], wanted) or found[5] is not None:
            return None
        if found[4] is not None and _iso(now or _now()) >= found[4]:
            return None
        return Principal.of("token", f"token:{found[0]}", [(found[2], orjson.loads(found[3]))])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
