"""shadow-utils (useradd, groupadd, usermod, userdel, groupmod, groupdel, passwd, chage,
chpasswd, gpasswd, chsh, chfn) as ECS ``iam`` events (pure).

Every line of these programs is an IAM event: its type comes from the program (creation,
change, deletion; user or group), as in Filebeat's system/auth module, and known messages
add the account and group acted on. The account acted on is ``user.target`` (ECS); the
program's log names no actor.
"""

from __future__ import annotations

import re

from .ecs import ecs_event

PROGRAMS = {
    "useradd": ("user", "creation"),
    "userdel": ("user", "deletion"),
    "usermod": ("user", "change"),
    "passwd": ("user", "change"),
    "chage": ("user", "change"),
    "chpasswd": ("user", "change"),
    "chsh": ("user", "change"),
    "chfn": ("user", "change"),
    "newusers": ("user", "creation"),
    "groupadd": ("group", "creation"),
    "groupdel": ("group", "deletion"),
    "groupmod": ("group", "change"),
    "gpasswd": ("group", "change"),
}
_Q = r"'?(?P<{}>[^',\s]+)'?"
PATTERNS = [
    # (action, regex); groups: user, uid, group, gid, home, shell, by
    (
        "user_created",
        rf"^new user: name={_Q.format('user')}, UID=(?P<uid>\d+), GID=(?P<gid>\d+)"
        r"(?:, home=(?P<home>[^,]*))?(?:, shell=(?P<shell>[^,]*))?",
    ),
    ("group_created", rf"^(?:new group|group added to \S+): name={_Q.format('group')}(?:, GID=(?P<gid>\d+))?"),
    ("user_added_to_group", rf"^add {_Q.format('user')} to (?:shadow )?group {_Q.format('group')}"),
    ("user_removed_from_group", rf"^delete {_Q.format('user')} from (?:shadow )?group {_Q.format('group')}"),
    ("user_deleted", rf"^delete user {_Q.format('user')}"),
    ("group_deleted", rf"^removed group {_Q.format('group')} owned by"),
    ("group_deleted", rf"^group {_Q.format('group')} removed"),
    ("user_changed", rf"^change user {_Q.format('user')}"),
    ("user_locked", rf"^lock user {_Q.format('user')} password"),
    ("user_unlocked", rf"^unlock user {_Q.format('user')} password"),
    ("password_changed", rf"^password for {_Q.format('user')} changed by {_Q.format('by')}"),
    ("password_expiry_changed", r"^changed password expiry for (?P<user>\S+)"),
    ("user_changed", rf"^changed user {_Q.format('user')} (?:information|shell)"),
    ("group_changed", r"^group changed in \S+ \(group (?P<group>[^/\s]+)/(?P<gid>\d+)"),
    ("user_added_to_group", r"^user (?P<user>\S+) added by (?P<by>\S+) to group (?P<group>\S+)"),
    ("user_removed_from_group", r"^user (?P<user>\S+) removed by (?P<by>\S+) from group (?P<group>\S+)"),
    ("group_members_set", r"^members of group (?P<group>\S+) set by (?P<by>\S+)"),
]
ACTION_TYPES = {
    "user_created": ("user", "creation"),
    "group_created": ("group", "creation"),
    "user_deleted": ("user", "deletion"),
    "group_deleted": ("group", "deletion"),
    "user_added_to_group": ("user", "group", "change"),
    "user_removed_from_group": ("user", "group", "change"),
    "group_changed": ("group", "change"),
    "group_members_set": ("group", "change"),
    "user_changed": ("user", "change"),
    "user_locked": ("user", "change"),
    "user_unlocked": ("user", "change"),
    "password_changed": ("user", "change"),
    "password_expiry_changed": ("user", "change"),
}
COMPILED = [(action, re.compile(p)) for action, p in PATTERNS]


def classify(prog: str, msg: str) -> dict | None:
    kind = PROGRAMS.get(prog)
    if kind is None:
        return None
    failed = "fail" in msg.lower() or "error" in msg.lower() or "cannot" in msg.lower()
    action, m = f"{prog}_message", None
    for name, pattern in COMPILED:
        if found := pattern.match(msg):
            action, m = name, found
            break
    types = list(ACTION_TYPES.get(action, kind))
    g = m.groupdict() if m is not None else {}
    return ecs_event(
        action,
        ["iam"],
        types,
        "failure" if failed else "success",
        user__name=g.get("by"),
        user__target__name=g.get("user"),
        user__target__id=g.get("uid"),
        group__name=g.get("group"),
        group__id=g.get("gid"),
        labels__home=g.get("home"),
        labels__shell=g.get("shell"),
        event__reason=msg if failed else None,
    )
