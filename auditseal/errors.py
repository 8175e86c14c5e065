"""Errors shaped by what the caller does next.

- ``Retryable``: try again later (network down, 429/503, disk momentarily full).
- ``Rejected``: this input is bad for good; count it, keep it aside, move on.
- ``Halt``: the program cannot run as configured (broken config, missing key); exit.
"""

from __future__ import annotations


class AuditsealError(Exception):
    """Base of every error this project raises on purpose."""


class Retryable(AuditsealError):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Rejected(AuditsealError):
    """Permanent rejection of one input; ``reason`` is a stable counter label. How a reason is
    answered (an HTTP status, a dead letter) is the caller's table, not the error's."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class Halt(AuditsealError):
    """The program cannot go on; the message is shown to the operator as is."""


class ConfigError(Halt):
    def __init__(self, path: str, line: int | None, key: str, message: str):
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {key}: {message}")
        self.path, self.line, self.key = path, line, key
