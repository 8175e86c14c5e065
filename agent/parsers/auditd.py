"""``format: auditd`` — Linux audit ``audit.log`` records as ECS events.

Records of one event share the serial in ``msg=audit(<epoch>.<ms>:<serial>)``; kernel
events (SYSCALL with EXECVE, CWD, PATH, PROCTITLE...) end with an ``EOE`` record and are
joined into one event. User-space messages (USER_LOGIN, USER_AUTH, USER_ACCT,
USER_CHAUTHTOK, ADD_USER, DEL_USER, ADD_GROUP, USER_ROLE_CHANGE, CRED_*, USER_START,
USER_END) stand alone. Hex-encoded values (EXECVE arguments, proctitle, unquoted
``acct``) are decoded. RHEL's enriched format (``\\x1d`` then ``UID="root" AUID="alice"``)
is read too. A kernel event still missing its EOE at the end of a read is left for the
next read, unless the file has gone quiet (``final``).
"""

from __future__ import annotations

import datetime as dt
import re

from auditseal.errors import Rejected
from auditseal.formats.event import format_ts

from . import Parsed, original, register

HEADER = re.compile(
    r"^(?:node=(?P<node>\S+) )?type=(?P<type>\S+) "
    r"msg=audit\((?P<sec>\d+)\.(?P<ms>\d+):(?P<serial>\d+)\):\s?(?P<body>.*)$"
)
PAIR = re.compile(r"""(\w[\w-]*)=("[^"]*"|'[^']*'|\S*)""")
HEX = re.compile(r"^(?:[0-9A-F]{2})+$")
HEX_FIELDS = {"proctitle", "acct", "cmd", "data", "name", "cwd", "comm", "exe"}
EXECVE_SYSCALLS = {"59", "322", "221", "11"}  # x86_64 execve/execveat, aarch64 execve, i386 execve

USER_TYPES = {
    "USER_LOGIN": ("user_login", ["authentication"], ["start"]),
    "USER_LOGOUT": ("user_logout", ["authentication"], ["end"]),
    "USER_AUTH": ("user_auth", ["authentication"], ["info"]),
    "USER_ACCT": ("user_acct", ["authentication"], ["info"]),
    "USER_CHAUTHTOK": ("password_changed", ["iam"], ["user", "change"]),
    "ADD_USER": ("user_added", ["iam"], ["user", "creation"]),
    "DEL_USER": ("user_deleted", ["iam"], ["user", "deletion"]),
    "ADD_GROUP": ("group_added", ["iam"], ["group", "creation"]),
    "DEL_GROUP": ("group_deleted", ["iam"], ["group", "deletion"]),
    "USER_ROLE_CHANGE": ("role_changed", ["iam"], ["user", "change"]),
    "CRED_ACQ": ("credentials_acquired", ["authentication"], ["info"]),
    "CRED_DISP": ("credentials_disposed", ["authentication"], ["info"]),
    "CRED_REFR": ("credentials_refreshed", ["authentication"], ["info"]),
    "USER_START": ("session_started", ["session"], ["start"]),
    "USER_END": ("session_ended", ["session"], ["end"]),
    "USER_CMD": ("user_command", ["process"], ["start"]),
}


def unquote(value: str, key: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    if (key in HEX_FIELDS or re.fullmatch(r"a\d+", key)) and HEX.match(value):
        return bytes.fromhex(value).replace(b"\x00", b" ").decode("utf-8", "backslashreplace")
    return value


def fields(body: str) -> dict[str, str]:
    """key=value pairs of a record body, with the inner ``msg='...'`` flattened in."""
    body, _, enriched = body.partition("\x1d")
    out: dict[str, str] = {}
    for key, value in PAIR.findall(body):
        if key == "msg" and value.startswith("'"):
            out.update(fields(value[1:-1]))
        else:
            out[key] = unquote(value, key)
    for key, value in PAIR.findall(enriched):
        out["enriched_" + key] = unquote(value, key)
    return out


def _outcome(f: dict) -> str:
    res = f.get("res") or f.get("success")
    if res in ("success", "yes", "1"):
        return "success"
    if res in ("failed", "no", "0"):
        return "failure"
    return "unknown"


def _user(f: dict) -> dict:
    user: dict = {}
    auid = f.get("auid")
    if auid and auid != "4294967295":
        user["id"] = auid
    name = f.get("enriched_AUID") or f.get("acct")
    if name and name != "unset":
        user["name"] = name
    target = f.get("id") if "acct" not in f else None
    if f.get("enriched_ID"):
        user["target"] = {"name": f["enriched_ID"]}
    elif target and target != (user.get("id")):
        user["target"] = {"id": target}
    return user


def build(records: list[tuple[str, dict, str]], ts: str, serial: int) -> dict:
    """One ECS event from the records of one serial (pure)."""
    types = [t for t, _, _ in records]
    first_type, f, _ = records[0]
    merged: dict = {}
    for _, rf, _ in records:
        for k, v in rf.items():
            merged.setdefault(k, v)
    if first_type in USER_TYPES:
        action, category, etype = USER_TYPES[first_type]
    elif "SYSCALL" in types and merged.get("syscall") in EXECVE_SYSCALLS:
        action, category, etype = "executed", ["process"], ["start"]
    else:
        action, category, etype = first_type.lower(), ["host"], ["info"]
    doc: dict = {
        "@timestamp": ts,
        "event": {
            "action": action,
            "category": category,
            "type": etype,
            "outcome": _outcome(merged),
            "original": "\n".join(line for _, _, line in records),
        },
        "auditd": {"record_types": types, "serial": serial},
    }
    user = _user(merged)
    if user:
        doc["user"] = user
    addr = merged.get("addr")
    if addr and addr not in ("?", ""):
        doc["source"] = {"ip": addr}
    process: dict = {}
    if merged.get("pid", "").isdigit():
        process["pid"] = int(merged["pid"])
    if merged.get("exe"):
        process["executable"] = merged["exe"]
    execve = next((rf for t, rf, _ in records if t == "EXECVE"), None)
    if execve is not None:
        argc = execve.get("argc", "")
        # A damaged record may claim any count: take what it holds, at most 4096 arguments.
        argc = min(int(argc), 4096) if argc.isdigit() else sum(1 for k in execve if re.fullmatch(r"a\d+", k))
        args = [execve.get(f"a{i}", "") for i in range(argc)]
        process["args"] = args
        process["command_line"] = " ".join(args)
    elif merged.get("proctitle"):
        process["command_line"] = merged["proctitle"]
    cwd = next((rf.get("cwd") for t, rf, _ in records if t == "CWD"), None)
    if cwd:
        process["working_directory"] = cwd
    if process:
        doc["process"] = process
    if merged.get("op"):
        doc["event"]["reason"] = merged["op"]
    if merged.get("hostname") and merged["hostname"] not in ("?", ""):
        doc.setdefault("source", {})["address"] = merged["hostname"]
    return doc


# Record types that arrive as several records of one kernel event, closed by EOE.
KERNEL_GROUP = {
    "SYSCALL",
    "EXECVE",
    "CWD",
    "PATH",
    "PROCTITLE",
    "SOCKADDR",
    "BPRM_FCAPS",
    "MMAP",
    "FD_PAIR",
    "OBJ_PID",
    "SECCOMP",
    "IPC",
    "CAPSET",
    "NETFILTER_CFG",
}


@register("auditd")
class AuditLog:
    checks_storable = False  # parse_safely checks each event

    def __init__(self, config=None):
        self.config = config

    def parse(self, lines, source, created, final) -> Parsed:
        out = Parsed()
        group: list = []  # (type, fields, text, header match) of the current serial
        group_lines: list = []  # the lines of the current serial
        consumed = 0

        def flush(upto: int) -> None:
            nonlocal group, consumed
            if group:
                head = group[0][3]
                try:
                    ts = format_ts(
                        dt.datetime.fromtimestamp(int(head["sec"]) + int(head["ms"]) / 1000, dt.timezone.utc)
                    )
                except (OverflowError, OSError, ValueError, Rejected) as exc:
                    for line in group_lines:
                        out.rejected.append((line, Rejected("bad_timestamp", f"audit time: {exc}")))
                    group, group_lines[:] = [], []
                    consumed = upto
                    return
                doc = build([(t, f, text) for t, f, text, _, _ in group], ts, int(head["serial"]))
                if any(cut for *_, cut in group):
                    doc.setdefault("labels", {})["truncated"] = True
                doc["event"]["created"] = created
                doc["organization"] = {"id": source.tenant}
                doc.setdefault("host", {})["name"] = head["node"] or source.host_name
                out.events.append(doc)
            group, group_lines[:] = [], []
            consumed = upto

        for index, line in enumerate(lines):
            text = original(line.data)
            m = HEADER.match(text)
            if m is None or source.tenant is None:
                flush(index)
                reason = "not an audit record" if m is None else "the input sets no tenant"
                out.rejected.append((line, Rejected("unrecognised_line", reason)))
                consumed = index + 1
                continue
            if group and group[0][3]["serial"] != m["serial"]:
                flush(index)  # a new serial: the previous event is complete
            if m["type"] == "EOE":
                flush(index + 1)
                continue
            group.append((m["type"], fields(m["body"]), text, m, line.cut))
            group_lines.append(line)
            if group[0][0] not in KERNEL_GROUP:
                flush(index + 1)  # user-space messages stand alone
        if group and final:
            flush(len(lines))
        out.consumed = consumed
        return out
