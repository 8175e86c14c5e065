"""``format: auditd`` — Linux audit ``audit.log`` records as ECS events.

Records of one event share the serial in ``msg=audit(<epoch>.<ms>:<serial>)``; kernel
events (SYSCALL with EXECVE, CWD, PATH, PROCTITLE...) end with an ``EOE`` record and are
joined into one event. User-space messages (USER_*, CRED_*, ADD_USER, SERVICE_START...)
stand alone. RHEL's enriched format (``\\x1d`` then ``UID="root" AUID="alice"``) is read too.
A kernel event still missing its EOE at the end of a read is left for the next read, unless
the file has gone quiet or the pass is the last (``final``). Categorisation: ``table``;
fields: ``build``.
"""

from __future__ import annotations

import datetime as dt

from auditseal.errors import Rejected
from auditseal.formats.event import format_ts

from .. import Parsed, check_built, original, register, small_int
from .build import build
from .records import HEADER, fields

__all__ = ["AuditLog", "build", "fields"]

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
    "AVC",
    "KERN_MODULE",
    "CONFIG_CHANGE",
    "APPARMOR_DENIED",
    "APPARMOR_ALLOWED",
    "SOCKETCALL",
}


@register("auditd")
class AuditLog:
    checks_storable = True  # check_built

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
                doc = build([(t, f, text) for t, f, text, _, _ in group], ts, small_int(head["serial"]))
                if any(cut for *_, cut in group):
                    doc.setdefault("labels", {})["truncated"] = True
                doc["event"]["created"] = created
                doc["organization"] = {"id": source.tenant}
                doc.setdefault("host", {})["name"] = head["node"] or source.host_name
                try:
                    # original, args, command line, title: four copies at most, 6 bytes a character
                    out.events.append(check_built(doc, len(doc["event"]["original"]) * 24))
                except Rejected as exc:
                    out.rejected.extend((line, exc) for line in group_lines)
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
