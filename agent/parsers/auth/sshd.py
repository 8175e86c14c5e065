"""sshd messages (OpenSSH's ``sshd``, and ``sshd-session`` since 9.8) as ECS events (pure).

Categorisation follows Filebeat's system/auth module: a login is ``authentication`` (and
``session`` when accepted) of type ``info``.
"""

from __future__ import annotations

import re

from .ecs import ecs_event, port, source

_FROM = r"(?P<ip>\S+) port (?P<port>\d+)"
ACCEPTED = re.compile(rf"^Accepted (?P<method>\S+) for (?P<user>\S+) from {_FROM}(?: ssh2)?(?:: (?P<key>.*))?$")
FAILED = re.compile(rf"^Failed (?P<method>\S+) for (?P<invalid>invalid user )?(?P<user>\S*) from {_FROM}")
INVALID = re.compile(r"^Invalid user (?P<user>.*?) from (?P<ip>\S+)(?: port (?P<port>\d+))?\s*$")
DISCONNECTED = re.compile(
    rf"^Disconnected from (?:(?P<phase>authenticating|invalid) )?user (?P<user>\S+) {_FROM}(?P<preauth> \[preauth\])?"
)
CLOSED = re.compile(
    rf"^Connection (?P<how>closed|reset) by (?:(?P<phase>authenticating|invalid) user (?P<user>\S+) )?{_FROM}"
    r"(?P<preauth> \[preauth\])?"
)
NO_IDENT = re.compile(r"^Did not receive identification string from (?P<ip>\S+)(?: port (?P<port>\d+))?")
MAX_ATTEMPTS = re.compile(
    rf"^(?:error: )?maximum authentication attempts exceeded for (?P<invalid>invalid user )?(?P<user>\S*) from {_FROM}"
)
SUBSYSTEM = re.compile(r"^subsystem request for (?P<subsystem>\S+) by user (?P<user>\S+)")
NOT_ALLOWED = re.compile(r"^User (?P<user>\S+) from (?P<ip>\S+) not allowed because (?P<why>.+)$")
RECEIVED_DISCONNECT = re.compile(rf"^Received disconnect from {_FROM}:(?P<code>\d+): (?P<why>.*?)(?: \[preauth\])?$")
LISTENING = re.compile(r"^Server listening on (?P<ip>\S+) port (?P<port>\d+)")


AUTH_INFO = (["authentication"], ["info"])
CONNECTION_END = (["network"], ["connection", "end"])


def _event(m: re.Match, action: str, kind: tuple, outcome: str, **fields) -> dict:
    """An sshd event with the user, address and port its pattern names."""
    groups = m.groupdict()
    return ecs_event(
        action,
        list(kind[0]),
        list(kind[1]),
        outcome,
        user__name=groups.get("user"),
        **source(groups.get("ip")),
        source__port=port(groups.get("port")),
        **fields,
    )


def classify(msg: str) -> dict | None:
    if m := ACCEPTED.match(msg):
        kind = (["authentication", "session"], ["info"])
        return _event(m, "ssh_login", kind, "success", labels__ssh_method=m["method"], labels__ssh_key=m["key"])
    if m := FAILED.match(msg):
        reason = "invalid user" if m["invalid"] else f"bad {m['method']}"
        return _event(m, "ssh_login", AUTH_INFO, "failure", labels__ssh_method=m["method"], event__reason=reason)
    if m := INVALID.match(msg):
        return _event(m, "ssh_invalid_user", AUTH_INFO, "failure", event__reason="invalid user")
    if m := DISCONNECTED.match(msg):
        if m["phase"]:  # never logged in: an authentication that ended without success
            reason = f"disconnected while {m['phase']}"
            return _event(m, "ssh_disconnect_preauth", (["authentication"], ["end"]), "failure", event__reason=reason)
        return _event(m, "ssh_logout", (["session"], ["end"]), "success")
    if m := CLOSED.match(msg):
        reason = f"connection {m['how']}" + (" before authentication" if m["preauth"] or m["phase"] else "")
        if m["user"]:
            return _event(m, "ssh_connection_closed", (["authentication"], ["end"]), "failure", event__reason=reason)
        return _event(m, "ssh_connection_closed", CONNECTION_END, "unknown", event__reason=reason)
    if m := NO_IDENT.match(msg):
        reason = "did not receive identification string"
        return _event(m, "ssh_no_identification", CONNECTION_END, "failure", event__reason=reason)
    if m := MAX_ATTEMPTS.match(msg):
        reason = "maximum authentication attempts exceeded" + (" (invalid user)" if m["invalid"] else "")
        return _event(m, "ssh_max_auth_attempts", AUTH_INFO, "failure", event__reason=reason)
    if m := SUBSYSTEM.match(msg):
        kind = (["session", "process"], ["start"])
        sub = m["subsystem"]
        return _event(m, "ssh_subsystem", kind, "success", process__title=sub, labels__ssh_subsystem=sub)
    if m := NOT_ALLOWED.match(msg):
        return _event(m, "ssh_login", AUTH_INFO, "failure", event__reason=f"not allowed because {m['why']}")
    if m := RECEIVED_DISCONNECT.match(msg):
        return _event(m, "ssh_disconnect", CONNECTION_END, "unknown", event__reason=m["why"])
    if m := LISTENING.match(msg):
        return ecs_event(
            "ssh_server_started", ["process"], ["start"], "success", labels__listen=f"{m['ip']}:{m['port']}"
        )
    return None
