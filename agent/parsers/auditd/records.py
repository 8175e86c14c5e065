"""One audit record: its header and its ``key=value`` fields (pure).

``type=T msg=audit(<epoch>.<ms>:<serial>): k=v k="quoted" k=48455820 msg='k=v ...'``,
optionally after ``node=<name>``, and in RHEL's enriched form followed by ``\\x1d`` and
``UID="root" AUID="alice" ...`` (the names of the ids before it). Hex-encoded values
(EXECVE arguments, proctitle, unquoted ``acct``/``cmd``/``exe``...) are decoded.
"""

from __future__ import annotations

import re

HEADER = re.compile(
    r"^(?:node=(?P<node>\S+) )?type=(?P<type>\S+) "
    r"msg=audit\((?P<sec>\d+)\.(?P<ms>\d+):(?P<serial>\d+)\):\s?(?P<body>.*)$"
)
PAIR = re.compile(r"""(\w[\w-]*)=("[^"]*"|'[^']*'|\S*)""")
HEX = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")
# Fields the kernel and libaudit write hex-encoded when their value holds a space, a quote or
# a control character (audit_log_untrustedstring, audit_encode_value).
HEX_FIELDS = frozenset(
    "proctitle acct cmd data name cwd comm exe path file dir watch vm device cgroup grp new_group "
    "old-chardev new-chardev old-disk new-disk old-fs new-fs old-net new-net old-rng new-rng sw root_dir "
    "ocomm invalid_context".split()
)
ARG = re.compile(r"a\d+(?:\[\d+\])?")
NEEDS_HEX = re.compile(rb'[\x00-\x20"\x7f-\xff]')
WHITESPACE = str.maketrans("\t\n\r", "   ")
UNSET = frozenset({"4294967295", "-1", "unset", "(none)"})


def unquote(value: str, key: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    if (key in HEX_FIELDS or ARG.fullmatch(key)) and HEX.match(value):
        return _from_hex(value, always=key == "proctitle" or key[0] == "a" and key[1:2].isdigit())
    return value


def _from_hex(value: str, always: bool) -> str:
    """A hex-encoded value as text; the value itself when it decodes to no text.

    The kernel writes arguments and proctitle either quoted or hex, so unquoted hex there is
    always encoded. Elsewhere it encodes only a value it could not quote (a space, a quote, a
    control or non-ASCII byte): hex that decodes to none of those is a plain value (``cafe``).
    """
    raw = bytes.fromhex(value)
    try:
        text = raw.rstrip(b"\x00").decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace") if always else value
    text = text.replace("\x00", " ")
    if not text.translate(WHITESPACE).isprintable():
        return value
    return text if always or NEEDS_HEX.search(raw) else value


def fields(body: str) -> dict[str, str]:
    """key=value pairs of a record body, with the inner ``msg='...'`` flattened in.

    Enriched names come as ``enriched_<KEY>``. Values ``?`` and ``(null)`` are dropped:
    auditd writes them for "not known".
    """
    body, _, enriched = body.partition("\x1d")
    out: dict[str, str] = {}
    for key, value in PAIR.findall(body):
        if key == "msg" and value.startswith("'"):
            inner = value[1:-1]
            out.update(fields(inner))
            # USER_CMD-style free text before the first key ("op=" is the common case) is kept.
            lead = inner.split("=", 1)[0]
            if " " in lead.strip():
                out.setdefault("text", lead.rsplit(" ", 1)[0].strip())
        else:
            value = unquote(value, key)
            if value not in ("?", "(null)", ""):
                out[key] = value
    for key, value in PAIR.findall(enriched):
        value = unquote(value, key)
        if value not in ("?", "(null)", "", "unset"):
            out["enriched_" + key] = value
    return out
