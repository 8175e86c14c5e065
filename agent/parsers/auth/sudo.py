"""sudo's log lines as ECS events (pure).

``alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls -l`` is a command run
(``process``/``start``; the target user is ``user.effective``). With an error before TTY:
``3 incorrect password attempts`` is an authentication failure; any other (``user NOT in
sudoers``, ``command not allowed``, ``a password is required``) an authorization failure,
which ECS, like Elastic's auditd mapping of USER_ACCT, files as ``authentication``/``info``.
"""

from __future__ import annotations

import re

from .ecs import ecs_event

LINE = re.compile(
    r"^\s*(?P<user>\S+) : (?:(?P<error>[^;=]+?) ; )?(?:TTY=(?P<tty>\S+) ; )?PWD=(?P<pwd>.*?) ; USER=(?P<target>\S+) ;"
    r"(?: GROUP=(?P<group>\S+) ;)?(?: TSID=\S+ ;)?(?: ENV=.*? ;)?(?: COMMAND=(?P<cmd>.*))?$"
)
ATTEMPTS = re.compile(r"^(?P<n>\d+) incorrect password attempts?$")


def classify(msg: str) -> dict | None:
    m = LINE.match(msg)
    if m is None:
        return None
    cmd = m["cmd"] or None
    common = {
        "user__name": m["user"],
        "user__effective__name": m["target"],
        "group__name": m["group"],
        "process__command_line": cmd,
        "process__working_directory": m["pwd"],
        "labels__tty": m["tty"],
    }
    error = m["error"]
    if error is None:
        return ecs_event("sudo_command", ["process"], ["start"], "success", **common)
    if a := ATTEMPTS.match(error):
        return ecs_event(
            "sudo_auth_failure",
            ["authentication"],
            ["info"],
            "failure",
            **common,
            event__reason=f"{a['n']} incorrect password attempts",
        )
    action = "sudo_not_in_sudoers" if "NOT in sudoers" in error else "sudo_denied"
    return ecs_event(action, ["authentication"], ["info"], "failure", **common, event__reason=error.strip())
