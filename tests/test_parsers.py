"""Parsers over real-format samples (Debian auth.log, RHEL secure, auditd raw and enriched),
each checked field by field."""

import pytest

from agent.lines import Line
from agent.normalise import Source
from agent.parsers.auditd import AuditLog
from agent.parsers.auth import AuthLog

SRC = Source("acme", "collector-host")
NOW = "2026-11-28T12:00:00.000000Z"


def lines(*texts):
    out, offset = [], 0
    for t in texts:
        data = t.encode() if isinstance(t, str) else t
        offset += len(data) + 1
        out.append(Line(data, offset))
    return out


def auth(text):
    parsed = AuthLog().parse(lines(text), SRC, NOW, final=False)
    assert parsed.consumed == 1 and not parsed.rejected, parsed.rejected
    [doc] = parsed.events
    assert doc["event"]["original"] == text and doc["organization"]["id"] == "acme"
    return doc


def fields(doc, *paths):
    out = {}
    for path in paths:
        node = doc
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        out[path] = node
    return out


AUTH_CASES = [
    # Debian 12 auth.log, classic prefix
    (
        "Nov 28 10:15:01 web-1 sshd[2190]: Accepted publickey for alice from 203.0.113.7 port 51234 ssh2: "
        "ED25519 SHA256:abcDEF123",
        {
            "event.action": "ssh_login",
            "event.category": ["authentication", "session"],
            "event.type": ["info"],
            "event.outcome": "success",
            "user.name": "alice",
            "source.ip": "203.0.113.7",
            "source.port": 51234,
            "labels.ssh_method": "publickey",
            "host.name": "web-1",
            "process.name": "sshd",
            "process.pid": 2190,
        },
    ),
    (
        "Nov 28 10:16:22 web-1 sshd[2201]: Failed password for invalid user admin from 198.51.100.23 port 40022 ssh2",
        {
            "event.action": "ssh_login",
            "event.outcome": "failure",
            "user.name": "admin",
            "source.ip": "198.51.100.23",
            "event.reason": "invalid user",
        },
    ),
    (
        "Nov 28 10:16:20 web-1 sshd[2201]: Invalid user admin from 198.51.100.23 port 40022",
        {"event.action": "ssh_invalid_user", "event.outcome": "failure", "user.name": "admin", "source.port": 40022},
    ),
    (
        "Nov 28 10:15:01 web-1 sshd[2190]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)",
        {
            "event.action": "session_opened",
            "event.category": ["session"],
            "event.type": ["start"],
            "user.name": "alice",
            "user.id": "1000",
            "labels.pam_service": "sshd",
        },
    ),
    (
        "Nov 28 10:17:05 web-1 sshd[2190]: pam_unix(sshd:session): session closed for user alice",
        {"event.action": "session_closed", "event.type": ["end"], "user.name": "alice"},
    ),
    (
        "Nov 28 10:18:00 web-1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
        "COMMAND=/usr/bin/systemctl restart nginx",
        {
            "event.action": "sudo_command",
            "event.category": ["process"],
            "event.outcome": "success",
            "user.name": "alice",
            "user.effective.name": "root",
            "process.command_line": "/usr/bin/systemctl restart nginx",
            "process.working_directory": "/home/alice",
        },
    ),
    (
        "Nov 28 10:18:30 web-1 sudo:      bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/bob ; "
        "USER=root ; COMMAND=/usr/bin/cat /etc/shadow",
        {
            "event.action": "sudo_auth_failure",
            "event.outcome": "failure",
            "user.name": "bob",
            "event.reason": "3 incorrect password attempts",
            "process.command_line": "/usr/bin/cat /etc/shadow",
        },
    ),
    (
        "Nov 28 10:18:10 web-1 sudo: pam_unix(sudo:auth): authentication failure; logname=bob uid=1001 euid=0 "
        "tty=/dev/pts/1 ruser=bob rhost=  user=bob",
        {
            "event.action": "pam_authentication_failure",
            "event.outcome": "failure",
            "user.name": "bob",
            "labels.pam_service": "sudo",
        },
    ),
    (
        "Nov 28 10:18:00 web-1 sudo: pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)",
        {
            "event.action": "session_opened",
            "user.name": "alice",
            "user.id": "1000",
            "user.effective.name": "root",
            "user.effective.id": "0",
            "labels.pam_service": "sudo",
        },
    ),
    # Debian 12 rsyslog high-precision timestamps
    (
        "2026-11-28T10:15:01.123456+00:00 web-1 sshd[2190]: Accepted password for carol from 192.0.2.10 port 2222 ssh2",
        {
            "@timestamp": "2026-11-28T10:15:01.123456Z",
            "event.action": "ssh_login",
            "user.name": "carol",
            "labels.ssh_method": "password",
        },
    ),
    # RHEL 9 /var/log/secure
    (
        "Nov 28 10:19:00 rhel-9 sshd[1300]: Failed password for root from 10.9.9.9 port 40000 ssh2",
        {
            "event.action": "ssh_login",
            "event.outcome": "failure",
            "user.name": "root",
            "source.ip": "10.9.9.9",
            "event.reason": "bad password",
            "host.name": "rhel-9",
        },
    ),
    (
        "Nov 28 10:20:00 rhel-9 crond[99]: pam_unix(crond:session): session opened for user root(uid=0) by (uid=0)",
        {"event.action": "session_opened", "user.name": "root", "labels.pam_service": "crond"},
    ),
    (
        "Nov 28 10:21:10 rhel-9 sshd[1400]: Disconnected from user dave 10.1.2.3 port 50000",
        {"event.action": "ssh_logout", "event.category": ["session"], "user.name": "dave", "source.ip": "10.1.2.3"},
    ),
    # Anything else is still shipped
    (
        "Nov 28 10:21:00 web-1 systemd-logind[500]: New session 3 of user alice.",
        {
            "event.action": "auth_log_line",
            "event.outcome": "unknown",
            "process.name": "systemd-logind",
            "message": "New session 3 of user alice.",
        },
    ),
]


@pytest.mark.parametrize("text, expected", AUTH_CASES)
def test_auth_lines(text, expected):
    doc = auth(text)
    assert fields(doc, *expected) == expected


def test_classic_timestamps_get_a_year_and_utc():
    doc = auth("Nov 28 10:15:01 web-1 sshd[1]: Accepted password for a from 1.2.3.4 port 1 ssh2")
    assert doc["@timestamp"].endswith("-11-28T10:15:01.000000Z")


def test_not_syslog_and_invalid_utf8_are_kept_not_crashed():
    parsed = AuthLog().parse(
        lines("garbage", b"Nov 28 10:15:01 web-1 sshd[1]: weird \xff\xfe bytes"), SRC, NOW, final=False
    )
    assert [exc.reason for _, exc in parsed.rejected] == ["unrecognised_line"]
    assert parsed.events[0]["event"]["original"].endswith("weird \\xff\\xfe bytes")


AUDIT_LOGIN = (
    "type=USER_LOGIN msg=audit(1764324901.123:456): pid=2190 uid=0 auid=1000 ses=3 subj=unconfined "
    'msg=\'op=login id=1000 exe="/usr/sbin/sshd" hostname=203.0.113.7 addr=203.0.113.7 '
    'terminal=/dev/pts/0 res=success\'\x1dUID="root" AUID="alice" ID="alice"'
)
AUDIT_AUTH_FAIL = (
    "type=USER_AUTH msg=audit(1764324900.001:450): pid=2190 uid=0 auid=4294967295 ses=4294967295 "
    'msg=\'op=PAM:authentication grantors=? acct="bob" exe="/usr/sbin/sshd" hostname=198.51.100.23 '
    "addr=198.51.100.23 terminal=ssh res=failed'"
)
AUDIT_ADD_USER = (
    "type=ADD_USER msg=audit(1764325000.500:700): pid=3000 uid=0 auid=1000 ses=3 msg='op=add-user "
    'id=1003 exe="/usr/sbin/useradd" hostname=web-1 addr=? terminal=pts/0 res=success\''
)
AUDIT_CHAUTHTOK = (
    "type=USER_CHAUTHTOK msg=audit(1764325010.000:710): pid=3010 uid=0 auid=1000 ses=3 "
    'msg=\'op=PAM:chauthtok grantors=pam_unix acct="alice" exe="/usr/bin/passwd" hostname=web-1 '
    "addr=? terminal=pts/0 res=success'"
)
AUDIT_ROLE = (
    "type=USER_ROLE_CHANGE msg=audit(1764325020.000:720): pid=1 uid=0 auid=1000 ses=3 "
    'msg=\'op=role-change acct="carol" exe="/usr/sbin/semanage" hostname=? addr=? terminal=? res=success\''
)
AUDIT_CRED = (
    "type=CRED_ACQ msg=audit(1764324901.200:457): pid=2190 uid=0 auid=1000 ses=3 "
    'msg=\'op=PAM:setcred grantors=pam_unix acct="alice" exe="/usr/sbin/sshd" hostname=203.0.113.7 '
    "addr=203.0.113.7 terminal=ssh res=success'"
)
AUDIT_ADD_GROUP = (
    "type=ADD_GROUP msg=audit(1764325030.000:730): pid=3020 uid=0 auid=1000 ses=3 "
    "msg='op=add-group id=1010 exe=\"/usr/sbin/groupadd\" hostname=web-1 addr=? terminal=pts/0 res=success'"
)
AUDIT_DEL_USER = (
    "type=DEL_USER msg=audit(1764325040.000:740): pid=3030 uid=0 auid=1000 ses=3 "
    "msg='op=delete-user id=1003 exe=\"/usr/sbin/userdel\" hostname=web-1 addr=? terminal=pts/0 res=success'"
)
AUDIT_EXEC = [
    "type=SYSCALL msg=audit(1764325100.250:800): arch=c000003e syscall=59 success=yes exit=0 a0=55d a1=55e "
    "a2=55f a3=0 items=2 ppid=2200 pid=2250 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 "
    'tty=pts0 ses=3 comm="cat" exe="/usr/bin/cat" subj=unconfined key="exec"',
    'type=EXECVE msg=audit(1764325100.250:800): argc=2 a0="cat" a1=2F6574632F736861646F77',
    'type=CWD msg=audit(1764325100.250:800): cwd="/root"',
    'type=PATH msg=audit(1764325100.250:800): item=0 name="/usr/bin/cat" inode=1234 dev=fd:00 mode=0100755 '
    "ouid=0 ogid=0 rdev=00:00 nametype=NORMAL",
    "type=PROCTITLE msg=audit(1764325100.250:800): proctitle=636174002F6574632F736861646F77",
    "type=EOE msg=audit(1764325100.250:800): ",
]


def audit(*texts, final=False):
    return AuditLog().parse(lines(*texts), SRC, NOW, final=final)


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            AUDIT_LOGIN,
            {
                "@timestamp": "2025-11-28T10:15:01.123000Z",
                "event.action": "logged-in",
                "event.category": ["authentication"],
                "event.type": ["start"],
                "user.audit.id": "1000",
                "event.outcome": "success",
                "user.id": "1000",
                "user.name": "alice",
                "source.ip": "203.0.113.7",
                "process.executable": "/usr/sbin/sshd",
                "process.pid": 2190,
                "auditd.serial": 456,
            },
        ),
        (
            AUDIT_AUTH_FAIL,
            {
                "event.action": "authenticated",
                "event.type": ["info"],
                "event.outcome": "failure",
                "user.name": "bob",
                "user.id": None,
                "source.ip": "198.51.100.23",
                "event.reason": "PAM:authentication",
            },
        ),
        (
            AUDIT_ADD_USER,
            {
                "event.action": "added-user-account",
                "event.category": ["iam"],
                "event.type": ["user", "creation"],
                "user.id": "1000",
                "user.target.id": "1003",
                "source.ip": None,
            },
        ),
        (
            AUDIT_DEL_USER,
            {"event.action": "deleted-user-account", "event.type": ["user", "deletion"], "user.target.id": "1003"},
        ),
        (
            AUDIT_ADD_GROUP,
            {"event.action": "added-group-account-to", "event.type": ["group", "creation"], "group.id": "1010"},
        ),
        (AUDIT_CHAUTHTOK, {"event.action": "changed-password", "event.category": ["iam"], "user.target.name": "alice"}),
        (AUDIT_ROLE, {"event.action": "changed-role-to", "user.target.name": "carol", "event.outcome": "success"}),
        (
            AUDIT_CRED,
            {"event.action": "acquired-credentials", "user.name": "alice", "user.id": "1000", "auditd.serial": 457},
        ),
    ],
)
def test_auditd_user_space_records(text, expected):
    parsed = audit(text)
    assert parsed.consumed == 1 and not parsed.rejected
    [doc] = parsed.events
    assert fields(doc, *expected) == expected
    assert doc["event"]["original"] == text and doc["host"]["name"] == "collector-host"


def test_auditd_kernel_records_are_joined_by_serial_with_hex_decoded():
    parsed = audit(*AUDIT_EXEC, AUDIT_LOGIN)
    assert parsed.consumed == 7 and len(parsed.events) == 2
    doc = parsed.events[0]
    assert fields(
        doc,
        "event.action",
        "event.category",
        "event.outcome",
        "process.args",
        "process.command_line",
        "process.working_directory",
        "process.executable",
        "process.pid",
        "user.id",
        "auditd.record_types",
        "user.audit.id",
    ) == {
        "event.action": "executed",
        "event.category": ["process"],
        "event.outcome": "success",
        "process.args": ["cat", "/etc/shadow"],
        "process.command_line": "cat /etc/shadow",
        "process.working_directory": "/root",
        "process.executable": "/usr/bin/cat",
        "process.pid": 2250,
        "user.id": "0",
        "auditd.record_types": ["SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE"],
        "user.audit.id": "1000",
    }
    assert doc["event"]["original"].count("\n") == 4


def test_an_event_still_open_at_the_end_of_a_read_waits_for_its_eoe():
    parsed = audit(AUDIT_LOGIN, *AUDIT_EXEC[:4])
    assert parsed.consumed == 1 and len(parsed.events) == 1  # the SYSCALL group is left for later
    assert audit(*AUDIT_EXEC[:4], final=True).events[0]["event"]["action"] == "executed"  # quiet file: shipped
    assert audit("not an audit line").rejected[0][1].reason == "unrecognised_line"


def test_cut_lines_are_flagged_not_dropped():
    cut = Line(AUDIT_LOGIN.encode()[:200], 201, cut=True)
    doc = AuditLog().parse([cut], SRC, NOW, final=False).events[0]
    assert doc["labels"]["truncated"] is True
    cut = Line(b"Nov 28 10:15:01 web-1 sshd[1]: Accepted password for a from 1.2.3.4 port", 80, cut=True)
    assert AuthLog().parse([cut], SRC, NOW, final=False).events[0]["labels"]["truncated"] is True


def test_syslog_messages_rfc5424_with_structured_data_and_bom_and_rfc3164():
    import datetime as dt

    from agent.parsers.syslog import parse_message

    now = dt.datetime(2026, 11, 28, 12, tzinfo=dt.timezone.utc)
    doc = parse_message(
        b'<34>1 2026-11-28T10:00:00.003Z web-1 sshd 123 ID47 [ex@32473 iut="3" src="A\\"B"] '
        b"\xef\xbb\xbfAccepted password for alice from 1.2.3.4 port 22 ssh2\n",
        now,
    )
    assert fields(
        doc,
        "@timestamp",
        "event.action",
        "user.name",
        "source.ip",
        "host.hostname",
        "process.name",
        "process.pid",
        "log.syslog.priority",
        "log.syslog.facility.code",
        "log.syslog.severity.code",
        "log.syslog.msgid",
        "log.syslog.structured_data",
        "message",
    ) == {
        "@timestamp": "2026-11-28T10:00:00.003000Z",
        "event.action": "ssh_login",
        "user.name": "alice",
        "source.ip": "1.2.3.4",
        "host.hostname": "web-1",
        "process.name": "sshd",
        "process.pid": 123,
        "log.syslog.priority": 34,
        "log.syslog.facility.code": 4,
        "log.syslog.severity.code": 2,
        "log.syslog.msgid": "ID47",
        "log.syslog.structured_data": {"ex@32473": {"iut": "3", "src": 'A"B'}},
        "message": "Accepted password for alice from 1.2.3.4 port 22 ssh2",
    }
    old = parse_message(b"<13>Nov 28 10:00:00 web-1 app[12]: hello there", now)
    assert fields(old, "@timestamp", "host.hostname", "process.name", "process.pid", "message") == {
        "@timestamp": "2026-11-28T10:00:00.000000Z",
        "host.hostname": "web-1",
        "process.name": "app",
        "process.pid": 12,
        "message": "hello there",
    }
    with pytest.raises(Exception, match="PRI"):
        parse_message(b"no priority here", now)
