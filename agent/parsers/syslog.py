"""One syslog message (RFC 5424 or RFC 3164) → an ECS event (pure).

sshd, PAM and sudo messages get the same security fields as ``format: auth`` lines;
anything else is a ``syslog_message`` event. ``event.original`` keeps the message;
invalid UTF-8 is kept escaped.
"""

from __future__ import annotations

import datetime as dt
import re

from auditseal.errors import Rejected
from auditseal.formats.event import format_ts, parse_ts

from . import original
from .auth import bsd_time, classify, ecs_event

PRI = re.compile(r"^<(?P<pri>\d{1,3})>")
RFC5424 = re.compile(
    r"^1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
    r"(?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (?P<msg>.*))?$",
    re.S,
)
RFC3164 = re.compile(
    r"^(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (?:(?P<host>[^\s:\[]+) )?(?P<tag>[^\s:\[]+)"
    r"(?:\[(?P<pid>[^\]]+)\])?: ?(?P<msg>.*)$",
    re.S,
)
RFC3164_NO_TAG = re.compile(r"^(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (?P<host>\S+) (?P<msg>.*)$", re.S)
SD_ELEMENT = re.compile(r"\[(?P<id>[^\s\]]+)(?P<params>(?:\s+[^=\s\]]+=\"(?:[^\"\\]|\\.)*\")*)\s*\]")
SD_PARAM = re.compile(r"([^=\s\]]+)=\"((?:[^\"\\]|\\.)*)\"")
BOM = "\ufeff"


def _nil(value):
    return None if value in (None, "-") else value


def parse_message(data: bytes, now: dt.datetime, tz: dt.tzinfo = dt.timezone.utc) -> dict:
    """One message as an ECS event; ``tz`` is the zone of times written without one."""
    text = original(data)
    m = PRI.match(text)
    if not m or int(m["pri"]) > 191:
        raise Rejected("bad_syslog", "no <PRI> at the start of the message")
    pri = int(m["pri"])
    rest = text[m.end() :]
    syslog = {"priority": pri, "facility": {"code": pri // 8}, "severity": {"code": pri % 8}}
    if (r := RFC5424.match(rest)) is not None:
        msg = r["msg"] or ""
        if msg.startswith(BOM):
            msg = msg[1:]
        when = _nil(r["ts"])
        stamp = format_ts(parse_ts(when, tz)) if when else format_ts(now)
        host, app, procid = _nil(r["host"]), _nil(r["app"]), _nil(r["procid"])
        if r["sd"] != "-":
            syslog["structured_data"] = {
                e["id"]: {
                    k: v.replace('\\"', '"').replace("\\]", "]").replace("\\\\", "\\")
                    for k, v in SD_PARAM.findall(e["params"])
                }
                for e in SD_ELEMENT.finditer(r["sd"])
            }
        if _nil(r["msgid"]):
            syslog["msgid"] = r["msgid"]
        syslog["version"] = "1"
    elif (r := RFC3164.match(rest) or RFC3164_NO_TAG.match(rest)) is not None:
        msg = r["msg"]
        stamp_dt = bsd_time(r["ts"], now, tz) or now
        groups = r.groupdict()
        stamp, host, app, procid = format_ts(stamp_dt), groups["host"], groups.get("tag"), groups.get("pid")
    else:
        # A <PRI> and free text (some devices): keep it whole.
        msg, stamp, host, app, procid = rest, format_ts(now), None, None, None
    msg = msg.rstrip("\r\n")  # relays (rsyslog's templates) end frames with a newline
    doc = classify(app or "", msg) or ecs_event("syslog_message", ["host"], ["info"], "unknown")
    doc["@timestamp"] = stamp
    doc["message"] = msg
    doc["event"]["original"] = text
    doc["log"] = {"syslog": syslog}
    if host:
        doc.setdefault("host", {})["hostname"] = host
    if app:
        doc["process"] = {**doc.get("process", {}), "name": app}
    if procid and procid.isdigit():
        doc.setdefault("process", {})["pid"] = int(procid)
    return doc
