"""``format: auth`` — sshd, PAM, sudo and shadow-utils lines of ``auth.log`` (Debian) and
``secure`` (RHEL).

Both the classic syslog prefix (``Nov 28 10:00:00 host prog[pid]: msg``) and rsyslog's
high-precision one (``2026-11-28T10:00:00.123456+00:00 host prog[pid]: msg``) are read; a
time without a zone is in the input's ``timezone`` (UTC by default), and the host may be
empty. Recognised messages become ECS authentication, session, process and iam events; any
other line is still shipped (``event.action: auth_log_line``), never dropped. Every event
keeps the line in ``event.original``.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from auditseal.errors import Rejected
from auditseal.formats.event import format_ts

from .. import Parsed, check_built, original, register, related, small_int
from . import pam, shadow, sshd, sudo
from .ecs import ecs_event

__all__ = ["AuthLog", "bsd_time", "classify", "ecs_event", "zone"]

PREFIX = re.compile(
    r"^(?:(?P<bsd>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?"
    r"(?:Z|[+-]\d\d:?\d\d)?))\s(?:(?P<host>\S+)\s+|\s*)(?P<prog>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?:\s?(?P<msg>.*)$"
)
MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
SSHD = frozenset({"sshd", "sshd-session", "sshd-auth"})


def classify(prog: str, msg: str) -> dict | None:
    """The ECS fields for one sshd/PAM/sudo/shadow-utils message; None when not recognised."""
    if prog in SSHD and (doc := sshd.classify(msg)) is not None:
        return doc
    if (doc := pam.classify(msg)) is not None:
        return doc
    if prog == "sudo":
        return sudo.classify(msg)
    return shadow.classify(prog, msg)


def zone(name: str | None) -> dt.tzinfo:
    """The input's ``timezone`` setting (an IANA name; UTC when unset)."""
    return dt.timezone.utc if name in (None, "UTC", "utc") else zoneinfo.ZoneInfo(name)


def parse_time(m: re.Match, now: dt.datetime, tz: dt.tzinfo = dt.timezone.utc) -> str:
    if m["iso"]:
        try:
            moment = dt.datetime.fromisoformat(m["iso"].replace("Z", "+00:00"))
        except ValueError:
            return format_ts(now)  # the prefix has the shape of a time but is none
        return format_ts(moment if moment.tzinfo else moment.replace(tzinfo=tz))
    return format_ts(bsd_time(m["bsd"], now, tz) or now)


def bsd_time(text: str, now: dt.datetime, tz: dt.tzinfo = dt.timezone.utc) -> dt.datetime | None:
    """The classic ``Mmm dd hh:mm:ss`` prefix, which has no year or zone: the agent's year
    (last year if that would be in the future) in the input's zone (UTC unless set). None when
    it names no real moment (``Feb 30``, ``Feb 29`` of last year): the caller uses the time it
    received the line, as syslog daemons do."""
    try:
        month = MONTHS[text[:3]]
        stamp = dt.datetime(now.year, month, int(text[4:6]), int(text[7:9]), int(text[10:12]), int(text[13:15]))
        stamp = stamp.replace(tzinfo=tz)
        if stamp - now > dt.timedelta(days=1):
            stamp = stamp.replace(year=now.year - 1)
    except (KeyError, ValueError):
        return None
    return stamp


@register("auth")
class AuthLog:
    checks_storable = True  # check_built

    def __init__(self, config=None):
        self.config = config
        self.tz = zone(getattr(config, "timezone", None))

    def parse(self, lines, source, created, final) -> Parsed:
        out = Parsed(consumed=len(lines))
        now = dt.datetime.now(dt.timezone.utc)
        for line in lines:
            text = original(line.data)
            m = PREFIX.match(text)
            if not m:
                out.rejected.append((line, Rejected("unrecognised_line", "not a syslog line")))
                continue
            if source.tenant is None:
                out.rejected.append((line, Rejected("missing_field", "the input sets no tenant")))
                continue
            prog, msg = m["prog"], m["msg"]
            doc = classify(prog, msg) or ecs_event("auth_log_line", ["host"], ["info"], "unknown")
            event = doc["event"]
            event["module"], event["dataset"] = "system", "system.auth"
            event["original"] = text
            event["created"] = created
            doc["@timestamp"] = parse_time(m, now, self.tz)
            doc["message"] = msg
            host = doc.setdefault("host", {})
            host["name"] = m["host"] or source.host_name
            if m["host"]:
                host["hostname"] = m["host"]
            doc["process"] = {**doc.get("process", {}), "name": prog}
            if (pid := small_int(m["pid"])) is not None:
                doc["process"]["pid"] = pid
            doc["organization"] = {"id": source.tenant}
            if line.cut:
                doc.setdefault("labels", {})["truncated"] = True
            related(doc)
            try:
                out.events.append(check_built(doc, len(line.data) * 24))  # 4 copies at most, 6 bytes a byte
            except Rejected as exc:
                out.rejected.append((line, exc))
        return out
