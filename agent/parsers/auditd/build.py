"""The ECS event of one audit event: the records of one serial (pure).

Categorisation comes from ``table``; fields follow ECS and Filebeat's auditd module:
``uid``→``user.id``, ``auid``→``user.audit.id`` (not when unset, 4294967295),
``euid``/``suid``/``fsuid`` and the group ids→``user.effective/saved/filesystem.*``; a
value that is a name (``ausearch -i``, RHEL's enriched ``UID="root"``) goes to ``.name``.
``acct=`` names the actor on authentication and session records, the account acted on
(``user.target``) on IAM records, and the group on group records.
"""

from __future__ import annotations

import re

from .. import ip_text, related, small_int
from .records import UNSET
from .table import (
    ACCT_IS_ACTOR,
    ACCT_IS_GROUP,
    ACCT_IS_TARGET_USER,
    ARCHES,
    DEFAULT_SYSCALL,
    RECORD_TYPES,
    SYSCALL_NAMES,
    SYSCALLS,
    VIRT_OPS,
)

ARG_KEY = re.compile(r"a(\d+)$")
# (audit field, enriched name, ECS path under user) for the process's credentials.
IDS = (
    ("uid", "UID", ""),
    ("auid", "AUID", "audit"),
    ("euid", "EUID", "effective"),
    ("suid", "SUID", "saved"),
    ("fsuid", "FSUID", "filesystem"),
)
GROUP_IDS = (
    ("gid", "GID", ""),
    ("egid", "EGID", "effective"),
    ("sgid", "SGID", "saved"),
    ("fsgid", "FSGID", "filesystem"),
)
# Records of a kernel event whose type says more than the SYSCALL it came with.
DECISIVE = (
    "KERN_MODULE",
    "CONFIG_CHANGE",
    "AVC",
    "SECCOMP",
    "ANOM_ABEND",
    "APPARMOR_DENIED",
    "APPARMOR_ALLOWED",
    "NETFILTER_CFG",
)


def _outcome(f: dict) -> str:
    res = f.get("res") or f.get("success") or f.get("result")
    if res in ("success", "yes", "1"):
        return "success"
    if res in ("failed", "fail", "failure", "no", "0"):
        return "failure"
    return "unknown"


def _node(doc: dict, *path: str) -> dict:
    node = doc
    for part in path:
        if part:
            node = node.setdefault(part, {})
    return node


def _set_id(doc: dict, path: tuple[str, ...], value: str | None, name: str | None = None) -> None:
    """``<path>.id`` for a numeric value, ``<path>.name`` for a name; unset ids are skipped."""
    if value and value not in UNSET:
        _node(doc, *path)["id" if value.isdigit() else "name"] = value
    if name and name not in UNSET:
        _node(doc, *path).setdefault("name", name)


_ip = ip_text


def _address(doc: dict, side: str, address: str | None, port: str | None = None) -> None:
    if address:
        node = _node(doc, side)
        node["address"] = address
        ip = _ip(address)
        if ip:
            node["ip"] = ip
        else:
            node["domain"] = address
    if port and side in doc and (number := small_int(port)) is not None and number < 65536:
        doc[side]["port"] = number


def categorise(first_type: str, types: list[str], merged: dict, arch: str) -> tuple[str, list, list, str | None]:
    """``(event.action, event.category, event.type, network.direction)`` of one event."""
    if "SYSCALL" in types:
        decisive = next((t for t in DECISIVE if t in types), None)
        if decisive:
            action, category, etype = RECORD_TYPES[decisive]
            return action, list(category), list(etype), None
        syscall = merged.get("syscall", "")
        if syscall.isdigit():
            syscall = SYSCALL_NAMES.get(arch, {}).get(syscall, syscall)
        action, category, etype, direction = SYSCALLS.get(syscall, DEFAULT_SYSCALL)
        return action, list(category), list(etype), direction
    row = RECORD_TYPES.get(first_type)
    if row is None:
        return first_type.lower(), ["host"], ["info"], None
    action, category, etype = row
    etype = list(etype)
    if first_type == "VIRT_CONTROL" and merged.get("op") in VIRT_OPS:
        etype = [VIRT_OPS[merged["op"]]]
    return action, list(category), etype, None


MAC_DECISIONS = ("AVC", "USER_AVC", "APPARMOR_DENIED", "APPARMOR_ALLOWED")


def _mac_decision(records: list[tuple[str, dict, str]]) -> tuple[str, list[str]] | None:
    """An SELinux or AppArmor decision (``avc:  denied  { read }``, ``apparmor="DENIED"``):
    its action and type, or None."""
    found = next(((f, text) for t, f, text in records if t in MAC_DECISIONS), None)
    if found is None:
        return None
    f, text = found
    apparmor = f.get("apparmor", "").upper()
    if apparmor:
        action = "violated-apparmor-policy" if apparmor == "DENIED" else "apparmor-" + apparmor.lower()
        return action, ["denied" if apparmor == "DENIED" else "allowed" if apparmor == "ALLOWED" else "info"]
    if "avc:  denied" in text or "avc: denied" in text:
        return "violated-selinux-policy", ["denied"]
    if "avc:  granted" in text or "avc: granted" in text:
        return "granted-selinux-permission", ["allowed"]
    return None


def build(records: list[tuple[str, dict, str]], ts: str, serial: int | None) -> dict:
    """One ECS event from the records of one serial."""
    types = [t for t, _, _ in records]
    first_type = types[0]
    merged: dict = {}
    for _, rf, _ in records:
        for k, v in rf.items():
            merged.setdefault(k, v)
    arch = ARCHES.get(merged.get("arch", ""), merged.get("arch", ""))
    action, category, etype, direction = categorise(first_type, types, merged, arch)
    decision = _mac_decision(records)
    if decision is not None:
        action, etype = decision
        category = ["intrusion_detection"]
    outcome = _outcome(merged)
    if "denied" in etype:
        outcome = "failure"
    doc: dict = {
        "@timestamp": ts,
        "event": {
            "kind": "event",
            "module": "auditd",
            "dataset": "auditd.log",
            "action": action,
            "category": category,
            "type": etype,
            "outcome": outcome,
            "original": "\n".join(line for _, _, line in records),
        },
        "auditd": {"record_types": types},
    }
    if serial is not None:
        doc["auditd"]["serial"] = serial
    if merged.get("ses") and merged["ses"] not in UNSET:
        doc["auditd"]["session"] = merged["ses"]
    if arch:
        doc["host"] = {"architecture": arch}
    if direction:
        doc["network"] = {"direction": direction}
    if merged.get("key"):
        doc["tags"] = [merged["key"]]
    _users(doc, first_type, merged)
    _process(doc, records, merged, first_type)
    _network(doc, merged, first_type)
    path = next((rf.get("name") for t, rf, _ in records if t == "PATH" and rf.get("nametype") != "PARENT"), None)
    if path:
        doc["file"] = {"path": path}
    if merged.get("op"):
        doc["event"]["reason"] = merged["op"]
    if merged.get("text"):
        doc["message"] = merged["text"]
    related(doc)
    return doc


def _credential(f: dict, key: str) -> tuple[str | None, str | None]:
    """(value, enriched name) of an id field, or (None, None) when it is unset."""
    value = f.get(key)
    if value is None or value in UNSET:
        return None, None
    return value, f.get("enriched_" + key.upper())


def _users(doc: dict, first_type: str, f: dict) -> None:
    """The user fields. On user-space records the human is the login uid (``auid``), and
    ``uid`` the process acting for them (``user.effective``); on kernel records ``uid`` is
    the user, ``auid`` the login behind it (``user.audit``)."""
    auid = _credential(f, "auid")
    uid = _credential(f, "uid")
    ident = _credential(f, "id")
    acct = f.get("acct") if f.get("acct") not in UNSET else None
    if first_type in ACCT_IS_ACTOR:
        # Not the process's uid when an account is named: before login (auid unset) that is
        # sshd's root, not the user.
        _set_id(doc, ("user",), *(auid if auid[0] else ident if ident[0] or acct else uid))
        if acct:
            _node(doc, "user")["name"] = acct
            _node(doc, "user", "effective")["name"] = acct
        else:
            _set_id(doc, ("user", "effective"), *(ident if ident[0] else uid))
    elif first_type in ACCT_IS_TARGET_USER or first_type in ACCT_IS_GROUP:
        _set_id(doc, ("user",), *(auid if auid[0] else uid))
        if auid[0]:
            _set_id(doc, ("user", "effective"), *uid)
        target = ("user", "target") if first_type in ACCT_IS_TARGET_USER else ("group",)
        _set_id(doc, target, ident[0], acct or ident[1])
    else:
        _set_id(doc, ("user",), *uid)
        if acct:
            _node(doc, "user")["name"] = acct
        for key, enriched, sub in IDS[2:]:
            _set_id(doc, ("user", sub), f.get(key), f.get("enriched_" + enriched))
        for key, enriched, sub in GROUP_IDS:
            _set_id(doc, ("user", sub, "group"), f.get(key), f.get("enriched_" + enriched))
    _set_id(doc, ("user", "audit"), *auid)
    if f.get("user") and first_type.startswith("VIRT_"):
        _node(doc, "user").setdefault("name", f["user"])


def _process(doc: dict, records: list, f: dict, first_type: str) -> None:
    process: dict = {}
    if (pid := small_int(f.get("pid"))) is not None:
        process["pid"] = pid
    if (ppid := small_int(f.get("ppid"))) is not None:
        process["parent"] = {"pid": ppid}
    if f.get("exe"):
        process["executable"] = f["exe"]
    if f.get("comm"):
        process["name"] = f["comm"]
    exit_code = f.get("exit", "")
    if "SYSCALL" in [t for t, _, _ in records] and exit_code.lstrip("-").isdigit() and len(exit_code) < 19:
        process["exit_code"] = int(exit_code)
    execve = next((rf for t, rf, _ in records if t == "EXECVE"), None)
    if execve is not None:
        argc = execve.get("argc", "")
        # A damaged record may claim any count: take what it holds, at most 4096 arguments.
        if argc.isdigit() and len(argc) <= 6:
            args = [execve.get(f"a{i}", "") for i in range(min(int(argc), 4096))]
        else:
            numbered = sorted((int(m.group(1)), v) for k, v in execve.items() if (m := ARG_KEY.match(k)))
            args = [v for _, v in numbered[:4096]]
        process["args"] = args
        process["args_count"] = len(args)
        process["command_line"] = " ".join(args)
    elif first_type == "USER_CMD" and f.get("cmd"):
        process["command_line"] = f["cmd"]
        process["args"] = f["cmd"].split()
        process["args_count"] = len(process["args"])
    elif f.get("proctitle"):
        process["command_line"] = f["proctitle"]
    if f.get("proctitle"):
        process["title"] = f["proctitle"]
    cwd = next((rf.get("cwd") for t, rf, _ in records if t == "CWD"), None) or f.get("cwd")
    if cwd:
        process["working_directory"] = cwd
    if process:
        doc["process"] = process


def _network(doc: dict, f: dict, first_type: str) -> None:
    if first_type.startswith("MAC_IPSEC") or first_type.startswith("MAC_UNLBL"):
        _address(doc, "source", f.get("src"))
        _address(doc, "destination", f.get("dst"))
        return
    _address(doc, "source", f.get("addr") or f.get("saddr_ip"), f.get("rport"))
    host = f.get("hostname")
    if host and "source" in doc and host != doc["source"].get("address"):
        if _ip(host) is None:
            doc["source"]["domain"] = host
    elif host and "source" not in doc:
        _address(doc, "source", host)
    if f.get("laddr"):
        _address(doc, "destination", f["laddr"], f.get("lport"))
