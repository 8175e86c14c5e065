"""Checks a config can be run before it runs: every file it names opens, every directory is
writable. Both programs run these at ``check-config`` and at the start of ``run``; the first
problem is a ``ConfigError`` (``file:line: key: reason``, exit 2), never a traceback.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path
from typing import Callable

from auditseal.config import line_of
from auditseal.errors import ConfigError, Halt


class Preflight:
    def __init__(self, config_path: str | Path):
        self.config_path = str(config_path)
        self.warnings: list[str] = []

    def error(self, key: tuple, reason: str) -> ConfigError:
        return ConfigError(self.config_path, line_of(self.config_path, key), ".".join(map(str, key)), reason)

    def warn(self, key: tuple, reason: str) -> None:
        line = line_of(self.config_path, key)
        where = f"{self.config_path}:{line}" if line else self.config_path
        self.warnings.append(f"{where}: {'.'.join(map(str, key))}: {reason}")

    def readable(self, key: tuple, path: Path) -> None:
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise self.error(key, f"{path}: {exc.strerror}") from None

    def loads(self, key: tuple, path: Path, load: Callable) -> object:
        """``load(path)``; a ``Halt`` it raises (file there but unusable) is named by ``key``."""
        self.readable(key, path)
        try:
            return load(path)
        except Halt as exc:
            raise self.error(key, str(exc).removeprefix(f"{path}: ")) from None

    def writable_dir(self, key: tuple, path: Path) -> None:
        try:
            Path(path).mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path, prefix=".auditseal-check-"):
                pass
        except OSError as exc:
            raise self.error(key, f"{path}: not a writable directory ({exc.strerror})") from None

    def tls_pair(self, prefix: tuple, cert: Path, key: Path, ca: Path | None, ca_key: str) -> None:
        """A certificate with its private key, and the CA that verifies peers."""
        self.readable(prefix + ("cert",), cert)
        self.readable(prefix + ("key",), key)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            ctx.load_cert_chain(str(cert), str(key))
        except ssl.SSLError as exc:
            raise self.error(
                prefix + ("cert",),
                f"{cert} with {key}: not a PEM certificate and its private key ({exc.reason or exc})",
            ) from None
        if ca is not None:
            self.readable(prefix + (ca_key,), ca)
            try:
                ctx.load_verify_locations(cafile=str(ca))
            except ssl.SSLError as exc:
                raise self.error(prefix + (ca_key,), f"{ca}: not a PEM CA certificate ({exc.reason or exc})") from None

    def free_to_write(self, key: tuple, path: Path) -> None:
        """A file the program will create or open for writing, in a writable directory."""
        if Path(path).is_dir():
            raise self.error(key, f"{path} is a directory")
        self.writable_dir(key, Path(path).parent)
        if Path(path).exists() and not os.access(path, os.W_OK):
            raise self.error(key, f"{path}: not writable")
