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


def classify(msg: str) -> dict | None:
    if m := ACCEPTED.match(msg):
        return ecs_event(
            "ssh_login",
            ["authentication", "session"],
            ["info"],
            "success",
            user__name=m["user"],
            **source(m["ip"]),
            source__port=port(m["port"]),
            labels__ssh_method=m["method"],
            labels__ssh_key=m["key"],
        )
    if m := FAILED.match(msg):
        return ecs_event(
            "ssh_login",
            ["authentication"],
            ["info"],
            "failure",
            user__name=m["user"],
            **source(m["ip"]),
            source__port=port(m["port"]),
            labels__ssh_method=m["method"],
            event__reason="invalid user" if m["invalid"] else f"bad {m['method']}",
        )
    if m := INVALID.match(msg):
        return ecs_event(
            "ssh_invalid_user",
            ["authentication"],
            ["info"],
            "failure",
            user__name=m["user"],
            **source(m["ip"]),
            source__port=port(m["port"]),
            event__reason="invalid user",
        )
    if m := DISCONNECTED.match(msg):
        if m["phase"]:  # never logged in: an authentication that ended without success
            return ecs_event(
                "ssh_disconnect_preauth",
                ["authentication"],
                ["end"],
                "failure",
                user__name=m["user"],
                **source(m["ip"]),
                source__port=port(m["port"]),
                event__reason=f"disconnected while {m['phase']}",
            )
        return ecs_event(
            "ssh_logout",
            ["session"],
            ["end"],
            "success",
            user__name=m["user"],
            **source(m["ip"]),
            source__port=port(m["port"]),
        )
    if m := CLOSED.match(msg):
        preauth = bool(m["preauth"] or m["phase"])
        return ecs_event(
            "ssh_connection_closed",
            ["authentication" if m["user"] else "network"],
            ["end"] if m["user"] else ["connection", "end"],
            "failure" if m["user"] else "unknown",
            user__name=m["user"],
            **source(m["ip"]),
            source__port=port(m["port"]),
            event__reason=f"connection {m['how']}" + (" before authentication" if preauth else ""),
        )
    if m := NO_IDENT.match(msg):
        return ecs_event(
            "ssh_no_identification",
            ["network"],
            ["connection", "end"],
            "failure",
            **source(m["ip"]),
            source__port=port(m["port"]),
            event__reason="did not receive identification string",
        )
    if m := MAX_ATTEMPTS.match(msg):
        return ecs_event(
            "ssh_max_auth_attempts",
            ["authentication"],
            ["info"],
            "failure",
            user__name=m["user"],
            **source(m["ip"]),
            source__port=port(m["port"]),
            event__reason="maximum authentication attempts exceeded" + (" (invalid user)" if m["invalid"] else ""),
        )
    if m := SUBSYSTEM.match(msg):
        return ecs_event(
            "ssh_subsystem",
            ["session", "process"],
            ["start"],
            "success",
            user__name=m["user"],
            process__title=m["subsystem"],
            labels__ssh_subsystem=m["subsystem"],
        )
    if m := NOT_ALLOWED.match(msg):
        return ecs_event(
            "ssh_login",
            ["authentication"],
            ["info"],
            "failure",
            user__name=m["user"],
            **source(m["ip"]),
            event__reason=f"not allowed because {m['why']}",
        )
    if m := RECEIVED_DISCONNECT.match(msg):
        return ecs_event(
            "ssh_disconnect",
            ["network"],
            ["connection", "end"],
            "unknown",
            **source(m["ip"]),
            source__port=port(m["port"]),
            event__reason=m["why"],
        )
    if m := LISTENING.match(msg):
        return ecs_event(
            "ssh_server_started", ["process"], ["start"], "success", labels__listen=f"{m['ip']}:{m['port']}"
        )
    return None
