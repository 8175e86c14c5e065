"""``format: auth`` — sshd, PAM and sudo lines of ``auth.log`` (Debian) and ``secure`` (RHEL).

Both the classic syslog prefix (``Nov 28 10:00:00 host prog[pid]: msg``) and rsyslog's
high-precision one (``2026-11-28T10:00:00.123456+00:00 host prog[pid]: msg``) are read.
Recognised messages become ECS authentication, session and process events; any other line
is still shipped (``event.action: auth_log_line``), never dropped. Every event keeps the
line in ``event.original``.
"""

from __future__ import annotations

import datetime as dt
import re

from auditseal.errors import Rejected
from auditseal.formats.event import format_ts

from . import Parsed, original, register

PREFIX = re.compile(
    r"^(?:(?P<bsd>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?"
    r"(?:Z|[+-]\d\d:?\d\d)))\s+(?P<host>\S+)\s+(?P<prog>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?:\s?(?P<msg>.*)$"
)

SSH_ACCEPTED = re.compile(r"^Accepted (?P<method>\S+) for (?P<user>\S+) from (?P<ip>\S+) port (?P<port>\d+)")
SSH_FAILED = re.compile(
    r"^Failed (?P<method>\S+) for (?P<invalid>invalid user )?(?P<user>\S*) from (?P<ip>\S+) port (?P<port>\d+)"
)
SSH_INVALID = re.compile(r"^Invalid user (?P<user>\S*) from (?P<ip>\S+)(?: port (?P<port>\d+))?")
SSH_DISCONNECT = re.compile(
    r"^Disconnected from (?:authenticating |invalid )?user (?P<user>\S+) (?P<ip>\S+) port (?P<port>\d+)"
)
PAM_SESSION = re.compile(
    r"^pam_unix\((?P<service>[^:)]+):session\): session (?P<what>opened|closed) for user (?P<user>[^\s(]+)"
    r"(?:\(uid=(?P<uid>\d+)\))?(?: by (?P<by>\S*?)(?:\(uid=(?P<byuid>\d+)\))?)?$"
)
PAM_AUTH_FAIL = re.compile(
    r"^pam_unix\((?P<service>[^:)]+):auth\): authentication failure;.*?rhost=(?P<rhost>\S*)"
    r"(?:\s+user=(?P<user>\S+))?"
)
SUDO = re.compile(
    r"^\s*(?P<user>\S+) : (?:(?P<attempts>\d+) incorrect password attempts? ; )?"
    r"(?:TTY=(?P<tty>\S+) ; )?PWD=(?P<pwd>.+?) ; USER=(?P<target>\S+) ;(?: COMMAND=(?P<cmd>.*))?$"
)


def ecs_event(action, category, types, outcome, **fields) -> dict:
    """An ECS event skeleton; ``fields`` name nested paths with ``__`` (``user__name``)."""
    doc = {"event": {"action": action, "category": category, "type": types, "outcome": outcome}}
    for path, value in fields.items():
        if value in (None, ""):
            continue
        node = doc
        parts = path.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return doc


def _port(value):
    return int(value) if value else None


def classify(prog: str, msg: str) -> dict | None:
    """The ECS fields for one sshd/PAM/sudo message (pure); None when not recognised."""
    if prog == "sshd":
        if m := SSH_ACCEPTED.match(msg):
            return ecs_event(
                "ssh_login",
                ["authentication"],
                ["start"],
                "success",
                user__name=m["user"],
                source__ip=m["ip"],
                source__port=_port(m["port"]),
                labels__ssh_method=m["method"],
            )
        if m := SSH_FAILED.match(msg):
            return ecs_event(
                "ssh_login",
                ["authentication"],
                ["start"],
                "failure",
                user__name=m["user"],
                source__ip=m["ip"],
                source__port=_port(m["port"]),
                labels__ssh_method=m["method"],
                event__reason="invalid user" if m["invalid"] else f"bad {m['method']}",
            )
        if m := SSH_INVALID.match(msg):
            return ecs_event(
                "ssh_invalid_user",
                ["authentication"],
                ["start"],
                "failure",
                user__name=m["user"],
                source__ip=m["ip"],
                source__port=_port(m["port"]),
                event__reason="invalid user",
            )
        if m := SSH_DISCONNECT.match(msg):
            return ecs_event(
                "ssh_logout",
                ["session"],
                ["end"],
                "success",
                user__name=m["user"],
                source__ip=m["ip"],
                source__port=_port(m["port"]),
            )
    if m := PAM_SESSION.match(msg):
        opened = m["what"] == "opened"
        return ecs_event(
            "session_opened" if opened else "session_closed",
            ["session"],
            ["start" if opened else "end"],
            "success",
            user__name=m["user"],
            user__id=m["uid"],
            labels__pam_service=m["service"],
            user__effective__name=m["by"] or None,
        )
    if m := PAM_AUTH_FAIL.match(msg):
        return ecs_event(
            "pam_authentication_failure",
            ["authentication"],
            ["start"],
            "failure",
            user__name=m["user"],
            source__address=m["rhost"] or None,
            labels__pam_service=m["service"],
            event__reason="authentication failure",
        )
    if prog == "sudo" and (m := SUDO.match(msg)):
        if m["attempts"]:
            return ecs_event(
                "sudo_auth_failure",
                ["authentication"],
                ["start"],
                "failure",
                user__name=m["user"],
                user__effective__name=m["target"],
                process__command_line=m["cmd"],
                event__reason=f"{m['attempts']} incorrect password attempts",
            )
        return ecs_event(
            "sudo_command",
            ["process"],
            ["start"],
            "success",
            user__name=m["user"],
            user__effective__name=m["target"],
            process__command_line=m["cmd"],
            process__working_directory=m["pwd"],
            labels__tty=m["tty"],
        )
    return None


def parse_time(m: re.Match, now: dt.datetime) -> str:
    if m["iso"]:
        try:
            return format_ts(dt.datetime.fromisoformat(m["iso"].replace("Z", "+00:00")))
        except ValueError:
            return format_ts(now)  # the prefix has the shape of a time but is none
    return format_ts(bsd_time(m["bsd"], now) or now)


def bsd_time(text: str, now: dt.datetime) -> dt.datetime | None:
    """The classic ``Mmm dd hh:mm:ss`` prefix, which has no year or zone: the agent's year
    (last year if that would be in the future) and UTC, as syslog daemons on servers run in
    UTC. None when it names no real moment (``Feb 30``, ``Feb 29`` of last year): the
    caller uses the time it received the line, as syslog daemons do."""
    try:
        stamp = dt.datetime.strptime(f"{now.year} {text}", "%Y %b %d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
        if stamp - now > dt.timedelta(days=1):
            stamp = stamp.replace(year=now.year - 1)
    except ValueError:
        return None
    return stamp


@register("auth")
class AuthLog:
    checks_storable = False  # parse_safely checks each event

    def __init__(self, config=None):
        self.config = config

    def parse(self, lines, source, created, final) -> Parsed:
        out = Parsed(consumed=len(lines))
        now = dt.datetime.now(dt.timezone.utc)
        for line in lines:
            text = original(line.data)
            m = PREFIX.match(text)
            if not m:
                out.rejected.append((line, Rejected("unrecognised_line", "not a syslog line")))
                continue
            doc = classify(m["prog"], m["msg"]) or ecs_event("auth_log_line", ["host"], ["info"], "unknown")
            doc["@timestamp"] = parse_time(m, now)
            doc["message"] = m["msg"]
            doc["event"]["original"] = text
            doc["event"]["created"] = created
            doc.setdefault("host", {})["name"] = m["host"]
            doc["process"] = {**doc.get("process", {}), "name": m["prog"]}
            if m["pid"]:
                doc["process"]["pid"] = int(m["pid"])
            if source.tenant is None:
                out.rejected.append((line, Rejected("missing_field", "the input sets no tenant")))
                continue
            doc["organization"] = {"id": source.tenant}
            if line.cut:
                doc.setdefault("labels", {})["truncated"] = True
            out.events.append(doc)
        return out
