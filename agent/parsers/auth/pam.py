"""PAM module messages (pam_unix, pam_succeed_if, pam_faillock) as ECS events (pure).

``session opened for user root(uid=0) by alice(uid=1000)``: the caller is the user (alice,
1000) and the account the session runs as is ``user.effective`` (root, 0), as Filebeat's
system/auth module reads it. With no caller named (``by (uid=0)``, sshd's logins) the user
is the account itself; sudo's ``by (uid=1000)`` names the caller by uid only.
"""

from __future__ import annotations

import re

from .ecs import ecs_event, source

_MODULE = r"^(?P<module>pam_\w+)\((?P<service>[^:)]+):(?P<stack>\w+)\): "
SESSION = re.compile(
    _MODULE + r"session (?P<what>opened|closed) for user (?P<user>[^\s(]+)(?:\(uid=(?P<uid>\d+)\))?"
    r"(?: by (?P<by>[^\s(]*)(?:\(uid=(?P<byuid>\d+)\))?)?\s*$"
)
AUTH_FAIL = re.compile(_MODULE + r"authentication failure;(?P<kv>.*)$")
KV = re.compile(r"(\w+)=(\S*)")
SUCCEED_IF = re.compile(
    r"^pam_succeed_if\((?P<service>[^:)]+):(?P<stack>\w+)\): requirement (?P<req>.+?) "
    r"(?P<met>not met|was met) by user \"?(?P<user>[^\s\"]+)\"?"
)
UNKNOWN_USER = re.compile(_MODULE + r"check pass; user unknown")
PASSWORD_CHANGED = re.compile(_MODULE + r"password changed for (?P<user>\S+)")
EXPIRED = re.compile(_MODULE + r"account (?P<user>\S+) has expired")
FAILLOCK = re.compile(r"^pam_faillock\((?P<service>[^:)]+):\w+\): Consecutive login failures for user (?P<user>\S+)")


def classify(msg: str) -> dict | None:
    if not msg.startswith("pam_"):
        return None
    if m := SESSION.match(msg):
        opened = m["what"] == "opened"
        # "by (uid=0)": a root daemon (sshd, cron, runuser) opened the session for the user;
        # a named or non-root caller ("by alice(uid=1000)", sudo's "by (uid=1000)") is the user.
        if m["by"] or (m["byuid"] and m["byuid"] != "0"):
            who = {"user__name": m["by"] or None, "user__id": m["byuid"], "user__effective__name": m["user"]}
            who["user__effective__id"] = m["uid"]
        else:
            who = {"user__name": m["user"], "user__id": m["uid"]}
        return ecs_event(
            "session_opened" if opened else "session_closed",
            ["session"],
            ["start" if opened else "end"],
            "success",
            labels__pam_service=m["service"],
            **who,
        )
    if m := AUTH_FAIL.match(msg):
        kv = dict(KV.findall(m["kv"]))
        ruser, user = kv.get("ruser") or None, kv.get("user") or None
        # The requesting user (ruser) is the actor when PAM knows one (sudo, su); the account
        # being authenticated is then user.effective. sshd has no ruser: user= is the actor.
        who = {"user__name": ruser or user, "user__id": kv.get("uid") if ruser else None}
        if ruser and user and user != ruser:
            who["user__effective__name"] = user
        return ecs_event(
            "pam_authentication_failure",
            ["authentication"],
            ["info"],
            "failure",
            **who,
            **source(kv.get("rhost") or None),
            labels__pam_service=m["service"],
            labels__tty=kv.get("tty") or None,
            event__reason="authentication failure",
        )
    if m := SUCCEED_IF.match(msg):
        return ecs_event(
            "pam_requirement",
            ["authentication"],
            ["info"],
            "failure" if m["met"] == "not met" else "success",
            user__name=m["user"],
            labels__pam_service=m["service"],
            event__reason=f"requirement {m['req']} {m['met']}",
        )
    if m := UNKNOWN_USER.match(msg):
        return ecs_event(
            "pam_unknown_user",
            ["authentication"],
            ["info"],
            "failure",
            labels__pam_service=m["service"],
            event__reason="user unknown",
        )
    if m := PASSWORD_CHANGED.match(msg):
        return ecs_event(
            "password_changed",
            ["iam"],
            ["user", "change"],
            "success",
            user__target__name=m["user"],
            labels__pam_service=m["service"],
        )
    if m := EXPIRED.match(msg):
        return ecs_event(
            "pam_account_expired",
            ["authentication"],
            ["info"],
            "failure",
            user__name=m["user"],
            labels__pam_service=m["service"],
            event__reason="account has expired",
        )
    if m := FAILLOCK.match(msg):
        return ecs_event(
            "account_locked",
            ["iam"],
            ["user", "change"],
            "success",
            user__target__name=m["user"],
            labels__pam_service=m["service"],
            event__reason="consecutive login failures",
        )
    return None
