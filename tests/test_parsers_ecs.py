"""ECS categorisation of the auth and auditd parsers, table by table: every auditd record type
and syscall mapped to an ECS-allowed (category, type) pair; real-format audit records of each
kind and every sshd/PAM/sudo/shadow-utils message class checked field by field; input time
zones and empty hostnames."""

import datetime as dt

import pytest

from agent.lines import Line
from agent.normalise import Source
from agent.parsers.auditd import AuditLog
from agent.parsers.auditd.table import RECORD_TYPES, SYSCALLS
from agent.parsers.auth import AuthLog
from agent.parsers.syslog import parse_message
from auditseal.formats.ecs import categorisation_problems

SRC = Source("acme", "agent-host")
NOW = "2026-11-28T12:00:00.000000Z"


def ecs_valid(category, types):
    return categorisation_problems(category, types) == []


@pytest.mark.parametrize("record_type", sorted(RECORD_TYPES))
def test_every_record_type_maps_to_an_ecs_allowed_pair(record_type):
    action, category, types = RECORD_TYPES[record_type]
    assert action and ecs_valid(category, types), (record_type, category, types)


@pytest.mark.parametrize("syscall", sorted(SYSCALLS))
def test_every_syscall_maps_to_an_ecs_allowed_pair(syscall):
    action, category, types, _ = SYSCALLS[syscall]
    assert action and ecs_valid(category, types), (syscall, category, types)


def get(doc, path):
    node = doc
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def parse_audit(text):
    records = text.split("\n")
    lines, offset = [], 0
    for r in records:
        offset += len(r) + 1
        lines.append(Line(r.encode(), offset))
    parsed = AuditLog().parse(lines, SRC, NOW, final=True)
    assert not parsed.rejected and len(parsed.events) == 1, (parsed.rejected, parsed.events)
    return parsed.events[0]


HEAD = "msg=audit(1764324901.123:{})"
AUDIT = [
    (
        "type=SERVICE_START " + HEAD.format(201) + ": pid=1 uid=0 auid=4294967295 ses=4294967295 "
        'subj=system_u:system_r:init_t:s0 msg=\'unit=sshd comm="systemd" exe="/usr/lib/systemd/systemd" '
        "hostname=? addr=? terminal=? res=success'",
        {
            "event.action": "started-service",
            "event.category": ["process"],
            "event.type": ["start"],
            "event.outcome": "success",
            "user.id": "0",
            "user.audit": None,
            "process.name": "systemd",
            "process.executable": "/usr/lib/systemd/systemd",
            "process.pid": 1,
            "source": None,
        },
    ),
    (
        "type=SERVICE_STOP " + HEAD.format(202) + ": pid=1 uid=0 auid=4294967295 ses=4294967295 "
        'msg=\'unit=cron comm="systemd" exe="/usr/lib/systemd/systemd" hostname=? addr=? terminal=? res=failed\'',
        {
            "event.action": "stopped-service",
            "event.category": ["process"],
            "event.type": ["end"],
            "event.outcome": "failure",
        },
    ),
    (
        "type=DAEMON_START " + HEAD.format(203) + ": op=start ver=3.0.9 format=enriched kernel=6.1.0-13-amd64 "
        "auid=4294967295 pid=512 uid=0 ses=4294967295 subj=unconfined res=success",
        {
            "event.action": "started-audit",
            "event.category": ["process"],
            "event.type": ["start"],
            "process.pid": 512,
            "event.reason": "start",
        },
    ),
    (
        "type=DAEMON_END " + HEAD.format(204) + ": op=terminate auid=0 uid=0 ses=4294967295 pid=1 res=success",
        {"event.action": "shutdown-audit", "event.category": ["process"], "event.type": ["end"]},
    ),
    (
        "type=CONFIG_CHANGE " + HEAD.format(205) + ': auid=1000 ses=3 subj=unconfined op=add_rule key="exec" '
        "list=4 res=1",
        {
            "event.action": "changed-audit-configuration",
            "event.category": ["process", "configuration"],
            "event.type": ["change"],
            "event.outcome": "success",
            "tags": ["exec"],
            "user.audit.id": "1000",
        },
    ),
    (
        "type=NETFILTER_CFG " + HEAD.format(206) + ": table=filter family=2 entries=12 op=xt_replace pid=700 "
        'subj=unconfined comm="iptables-restor"\n'
        "type=SYSCALL " + HEAD.format(206) + ": arch=c000003e syscall=54 success=yes exit=0 ppid=1 pid=700 "
        'auid=4294967295 uid=0 comm="iptables-restor" exe="/usr/sbin/xtables-legacy-multi"\n'
        "type=EOE " + HEAD.format(206) + ":",
        {
            "event.action": "loaded-firewall-rule-to",
            "event.category": ["configuration"],
            "event.type": ["change"],
            "auditd.record_types": ["NETFILTER_CFG", "SYSCALL"],
        },
    ),
    (
        "type=SYSCALL " + HEAD.format(207) + ": arch=c000003e syscall=313 success=yes exit=0 a0=3 ppid=900 pid=901 "
        'auid=1000 uid=0 gid=0 euid=0 ses=3 comm="modprobe" exe="/usr/bin/kmod" key="modules"\n'
        "type=KERN_MODULE " + HEAD.format(207) + ': name="nf_tables"\n'
        "type=PROCTITLE " + HEAD.format(207) + ": proctitle=6D6F6470726F6265006E665F7461626C6573\n"
        "type=EOE " + HEAD.format(207) + ":",
        {
            "event.action": "loaded-kernel-module",
            "event.category": ["driver"],
            "event.type": ["start"],
            "process.title": "modprobe nf_tables",
            "tags": ["modules"],
            "user.id": "0",
            "user.audit.id": "1000",
        },
    ),
    (
        "type=SOFTWARE_UPDATE " + HEAD.format(208) + ': pid=3157 uid=0 auid=1000 ses=3 msg=\'sw="curl-8.5.0-1" '
        'sw_type=rpm key_enforce=0 gpg_res=1 root_dir="/" comm="dnf" exe="/usr/bin/python3.12" hostname=? '
        "addr=? terminal=pts/0 res=success'",
        {
            "event.action": "package-updated",
            "event.category": ["package"],
            "event.type": ["info"],
            "user.id": "0",
            "user.audit.id": "1000",
            "process.name": "dnf",
        },
    ),
    (
        "type=ANOM_ABEND " + HEAD.format(209) + ": auid=1000 uid=1000 gid=1000 ses=2 subj=unconfined pid=4242 "
        'comm="crasher" exe="/usr/local/bin/crasher" sig=11 res=1',
        {
            "event.action": "crashed-program",
            "event.category": ["process"],
            "event.type": ["end"],
            "user.id": "1000",
            "process.pid": 4242,
        },
    ),
    (
        "type=SYSCALL " + HEAD.format(210) + ": arch=c000003e syscall=42 success=no exit=-115 a0=3 ppid=1 "
        'pid=2000 auid=1000 uid=1000 gid=1000 euid=1000 ses=2 comm="curl" exe="/usr/bin/curl" key="net"\n'
        "type=SOCKADDR " + HEAD.format(210) + ": saddr=020001BBC0000207000000000000000000\n"
        "type=EOE " + HEAD.format(210) + ":",
        {
            "event.action": "connected-to",
            "event.category": ["network"],
            "event.type": ["connection", "start"],
            "network.direction": "egress",
            "event.outcome": "failure",
            "process.exit_code": -115,
        },
    ),
    (
        "type=SYSCALL " + HEAD.format(211) + ": arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c ppid=1 "
        'pid=2001 auid=1000 uid=0 euid=0 ses=2 comm="cat" exe="/usr/bin/cat" key="shadow"\n'
        "type=CWD " + HEAD.format(211) + ': cwd="/root"\n'
        "type=PATH " + HEAD.format(211) + ': item=0 name="/etc/shadow" inode=1 dev=08:01 mode=0100640 ouid=0 '
        "ogid=42 rdev=00:00 nametype=NORMAL\n"
        "type=EOE " + HEAD.format(211) + ":",
        {
            "event.action": "opened-file",
            "event.category": ["file"],
            "event.type": ["info"],
            "file.path": "/etc/shadow",
            "process.working_directory": "/root",
            "tags": ["shadow"],
        },
    ),
    (
        "type=SYSCALL " + HEAD.format(212) + ": arch=x86_64 syscall=execve success=yes exit=0 items=2 ppid=2563 "
        "pid=2614 auid=vagrant uid=vagrant gid=vagrant euid=vagrant ses=2 comm=top exe=/usr/bin/top key=(null)\n"
        "type=EOE " + HEAD.format(212) + ":",
        {
            "event.action": "executed",
            "event.category": ["process"],
            "event.type": ["start"],
            "user.name": "vagrant",
            "user.audit.name": "vagrant",
            "user.id": None,
            "tags": None,
            "host.architecture": "x86_64",
        },
    ),
    (
        "type=SYSCALL " + HEAD.format(213) + ": arch=c000003e syscall=263 success=yes exit=0 ppid=1 pid=7 "
        'auid=1000 uid=1000 ses=2 comm="rm" exe="/usr/bin/rm"\n'
        "type=PATH " + HEAD.format(213) + ': item=0 name="/tmp/" nametype=PARENT\n'
        "type=PATH " + HEAD.format(213) + ': item=1 name="/tmp/x" nametype=DELETE\n'
        "type=EOE " + HEAD.format(213) + ":",
        {"event.action": "deleted", "event.category": ["file"], "event.type": ["deletion"], "file.path": "/tmp/x"},
    ),
    (
        "type=SYSCALL " + HEAD.format(214) + ": arch=c00000b7 syscall=221 success=yes exit=0 ppid=1 pid=8 "
        'auid=1000 uid=1000 ses=2 comm="id" exe="/usr/bin/id"\n'
        "type=EXECVE " + HEAD.format(214) + ': argc=1 a0="id"\n'
        "type=EOE " + HEAD.format(214) + ":",
        {"event.action": "executed", "host.architecture": "aarch64", "process.args": ["id"]},
    ),
    (
        "type=USER_CMD " + HEAD.format(215) + ': pid=4151 uid=497 auid=700 ses=11988 msg=\'cwd="/" '
        "cmd=2F7573722F62696E2F6C73202D6C61 terminal=? res=success'",
        {
            "event.action": "ran-command",
            "event.category": ["process"],
            "event.type": ["start"],
            "process.args": ["/usr/bin/ls", "-la"],
            "process.args_count": 2,
            "process.command_line": "/usr/bin/ls -la",
            "process.working_directory": "/",
            "user.id": "497",
            "user.audit.id": "700",
        },
    ),
    (
        "type=VIRT_CONTROL " + HEAD.format(216) + ": pid=5433 uid=0 auid=1000 ses=3 msg='virt=docker op=create "
        'reason=api vm=nginx vm-pid=0 user=bob exe="/usr/bin/dockerd" hostname=? addr=? terminal=? res=success\'',
        {"event.action": "issued-vm-control", "event.category": ["host"], "event.type": ["change"], "user.name": "bob"},
    ),
    (
        "type=VIRT_CONTROL " + HEAD.format(217) + ": pid=5433 uid=0 auid=1000 ses=3 msg='virt=kvm op=start "
        'vm=db user=root exe="/usr/sbin/libvirtd" res=success\'',
        {"event.type": ["start"], "user.name": "root"},
    ),
    (
        "type=MAC_IPSEC_EVENT " + HEAD.format(218) + ": op=SPD-delete auid=4294967295 ses=4294967295 res=1 "
        "src=192.168.2.0 src_prefixlen=24 dst=192.168.0.0 dst_prefixlen=16",
        {
            "event.category": ["network"],
            "source.ip": "192.168.2.0",
            "destination.ip": "192.168.0.0",
            "user.audit": None,
        },
    ),
    (
        "type=AVC " + HEAD.format(219) + ': avc:  denied  { read } for  pid=1234 comm="httpd" name="secret" '
        'dev="sda1" ino=42 scontext=system_u:system_r:httpd_t:s0 tcontext=unconfined_u:object_r:user_home_t:s0 '
        "tclass=file permissive=0\n"
        "type=SYSCALL " + HEAD.format(219) + ": arch=c000003e syscall=257 success=no exit=-13 ppid=1 pid=1234 "
        'auid=4294967295 uid=48 comm="httpd" exe="/usr/sbin/httpd"\n'
        "type=EOE " + HEAD.format(219) + ":",
        {
            "event.action": "violated-selinux-policy",
            "event.category": ["intrusion_detection"],
            "event.type": ["denied"],
            "event.outcome": "failure",
            "user.id": "48",
        },
    ),
    (
        "type=AVC " + HEAD.format(220) + ': apparmor="DENIED" operation="open" profile="/usr/sbin/cupsd" '
        'name="/etc/shadow" pid=990 comm="cupsd" requested_mask="r" denied_mask="r" fsuid=0 ouid=0',
        {"event.action": "violated-apparmor-policy", "event.type": ["denied"], "process.name": "cupsd"},
    ),
    (
        "type=USER_ERR " + HEAD.format(221) + ": pid=2190 uid=0 auid=4294967295 ses=4294967295 "
        'msg=\'op=PAM:bad_ident grantors=? acct="?" exe="/usr/sbin/sshd" hostname=198.51.100.9 '
        "addr=198.51.100.9 terminal=ssh res=failed'",
        {
            "event.action": "error",
            "event.category": ["authentication"],
            "event.outcome": "failure",
            "user.name": None,
            "source.ip": "198.51.100.9",
        },
    ),
    (
        "type=USER_ACCT " + HEAD.format(222) + ": pid=3000 uid=1000 auid=1000 ses=3 msg='op=PAM:accounting "
        'grantors=? acct="mallory" exe="/usr/bin/sudo" hostname=? addr=? terminal=/dev/pts/0 res=failed\'',
        {
            "event.action": "was-authorized",
            "event.category": ["authentication"],
            "event.outcome": "failure",
            "user.name": "mallory",
            "user.id": "1000",
        },
    ),
    (
        "type=USER_AUTH " + HEAD.format(223) + ": pid=2190 uid=0 auid=4294967295 ses=4294967295 "
        'msg=\'op=PAM:authentication grantors=? acct="root" exe="/usr/sbin/sshd" hostname=203.0.113.50 '
        "addr=203.0.113.50 terminal=ssh res=failed'",
        {
            "event.action": "authenticated",
            "event.outcome": "failure",
            "user.name": "root",
            "user.id": None,
            "user.effective.name": "root",
            "related.user": ["root"],
            "related.ip": ["203.0.113.50"],
        },
    ),
    (
        "type=ACCT_LOCK " + HEAD.format(224) + ": pid=1 uid=0 auid=1000 ses=3 msg='op=locked-account "
        'acct="eve" exe="/usr/sbin/faillock" res=success\'',
        {"event.category": ["iam"], "event.type": ["user", "info"], "user.target.name": "eve", "user.id": "1000"},
    ),
    (
        "type=SYSTEM_BOOT " + HEAD.format(225) + ": pid=678 uid=0 auid=4294967295 ses=4294967295 "
        'msg=\' comm="systemd-update-utmp" exe="/usr/lib/systemd/systemd-update-utmp" hostname=? addr=? '
        "terminal=? res=success'",
        {"event.action": "booted-system", "event.category": ["host"], "event.type": ["info"]},
    ),
    (
        "type=LOGIN " + HEAD.format(226) + ": pid=900 uid=0 subj=unconfined old-auid=4294967295 auid=1000 "
        "tty=(none) old-ses=4294967295 ses=5 res=1",
        {
            "event.action": "changed-login-id-to",
            "event.category": ["authentication"],
            "event.type": ["start"],
            "user.audit.id": "1000",
            "auditd.session": "5",
        },
    ),
    (
        "type=USER_MGMT " + HEAD.format(227) + ": pid=1 uid=0 auid=1000 ses=3 msg='op=changing-shell id=1003 "
        'exe="/usr/sbin/usermod" hostname=web-1 addr=? terminal=pts/0 res=success\'',
        {
            "event.category": ["iam"],
            "event.type": ["user", "change"],
            "user.target.id": "1003",
            "user.id": "1000",
            "user.effective.id": "0",
        },
    ),
    (
        "type=GRP_MGMT " + HEAD.format(228) + ": pid=1 uid=0 auid=1000 ses=3 msg='op=add-member-to-group "
        'acct="admins" exe="/usr/sbin/usermod" hostname=web-1 addr=? terminal=pts/0 res=success\'',
        {"event.category": ["iam"], "event.type": ["group", "change"], "group.name": "admins"},
    ),
    (
        "type=CRYPTO_SESSION " + HEAD.format(229) + ": pid=1298 uid=0 auid=4294967295 ses=4294967295 "
        "msg='op=start direction=from-server cipher=chacha20-poly1305@openssh.com ksize=512 spid=1299 suid=74 "
        'rport=63927 laddr=10.142.0.2 lport=22  exe="/usr/sbin/sshd" hostname=? addr=216.160.83.61 '
        "terminal=? res=success'",
        {
            "event.action": "started-crypto-session",
            "source.ip": "216.160.83.61",
            "source.port": 63927,
            "destination.ip": "10.142.0.2",
            "destination.port": 22,
            "user.saved.id": "74",
            "related.ip": ["216.160.83.61", "10.142.0.2"],
        },
    ),
    (
        "type=MAC_STATUS " + HEAD.format(230) + ": enforcing=0 old_enforcing=1 auid=1000 ses=3 enabled=1 "
        "old-enabled=1 lsm=selinux res=1",
        {"event.action": "changed-selinux-enforcement", "event.category": ["configuration"]},
    ),
    (
        "type=TTY " + HEAD.format(231) + ": tty pid=27930 uid=1000 auid=1000 ses=762 major=136 minor=0 "
        'comm="bash" data=6C73202D6C610D',
        {"event.action": "typed", "event.category": ["process"], "process.name": "bash"},
    ),
    (
        "type=SECCOMP " + HEAD.format(232) + ': auid=1000 uid=1000 gid=1000 ses=2 pid=555 comm="chrome" '
        'exe="/opt/chrome" sig=0 arch=c000003e syscall=101 compat=0 ip=0x7f code=0x50000',
        {
            "event.action": "violated-seccomp-policy",
            "event.category": ["intrusion_detection"],
            "event.type": ["denied"],
            "event.outcome": "failure",
        },
    ),
    (
        "type=DEL_GROUP " + HEAD.format(233) + ": pid=1 uid=0 auid=1000 ses=3 msg='op=delete-group "
        'acct="olds" exe="/usr/sbin/groupdel" hostname=web-1 addr=? terminal=pts/0 res=success\'',
        {"event.type": ["group", "deletion"], "group.name": "olds"},
    ),
    (
        "type=SOME_FUTURE_TYPE " + HEAD.format(234) + ": pid=1 uid=0 auid=1000 res=success",
        {"event.action": "some_future_type", "event.category": ["host"], "event.type": ["info"]},
    ),
]


@pytest.mark.parametrize(
    "text, expected", AUDIT, ids=[t.split(" ", 1)[0][5:] + str(i) for i, (t, _) in enumerate(AUDIT)]
)
def test_audit_records_field_by_field(text, expected):
    doc = parse_audit(text)
    assert {path: get(doc, path) for path in expected} == expected
    assert doc["event"]["kind"] == "event" and doc["event"]["module"] == "auditd"
    assert ecs_valid(doc["event"]["category"], doc["event"]["type"])


def parse_auth(text, tz=None):
    cfg = type("Cfg", (), {"timezone": tz})() if tz else None
    parsed = AuthLog(cfg).parse([Line(text.encode(), len(text) + 1)], SRC, NOW, final=True)
    assert not parsed.rejected, parsed.rejected
    return parsed.events[0]


T = "Feb 22 10:21:43 web-1 "
AUTH = [
    (
        T + "sshd[1332]: Accepted publickey for vagrant from 10.0.2.2 port 63673 ssh2: RSA SHA256:xyz",
        {
            "event.action": "ssh_login",
            "event.category": ["authentication", "session"],
            "event.type": ["info"],
            "event.outcome": "success",
            "user.name": "vagrant",
            "source.ip": "10.0.2.2",
            "source.port": 63673,
            "related.user": ["vagrant"],
            "related.ip": ["10.0.2.2"],
        },
    ),
    (
        T + "sshd[1332]: Failed password for root from 216.160.83.57 port 29160 ssh2",
        {
            "event.action": "ssh_login",
            "event.category": ["authentication"],
            "event.outcome": "failure",
            "user.name": "root",
            "event.reason": "bad password",
        },
    ),
    (
        T + "sshd[1332]: Invalid user test from 10.0.2.2 port 51234",
        {"event.action": "ssh_invalid_user", "event.outcome": "failure", "user.name": "test"},
    ),
    (
        T + "sshd[1332]: Disconnected from user alice 203.0.113.7 port 51234",
        {"event.action": "ssh_logout", "event.category": ["session"], "event.type": ["end"], "user.name": "alice"},
    ),
    (
        T + "sshd[1332]: Disconnected from authenticating user root 198.51.100.4 port 41000 [preauth]",
        {
            "event.action": "ssh_disconnect_preauth",
            "event.category": ["authentication"],
            "event.type": ["end"],
            "event.outcome": "failure",
            "user.name": "root",
            "source.ip": "198.51.100.4",
        },
    ),
    (
        T + "sshd[1332]: Disconnected from invalid user oracle 198.51.100.4 port 41001 [preauth]",
        {"event.action": "ssh_disconnect_preauth", "user.name": "oracle"},
    ),
    (
        T + "sshd[1332]: Connection closed by authenticating user root 198.51.100.4 port 41002 [preauth]",
        {"event.action": "ssh_connection_closed", "event.category": ["authentication"], "user.name": "root"},
    ),
    (
        T + "sshd[1332]: Did not receive identification string from 2.125.160.217 port 45678",
        {
            "event.action": "ssh_no_identification",
            "event.category": ["network"],
            "source.ip": "2.125.160.217",
            "event.outcome": "failure",
        },
    ),
    (
        T + "sshd[1332]: error: maximum authentication attempts exceeded for root from 198.51.100.4 port 41003 "
        "ssh2 [preauth]",
        {"event.action": "ssh_max_auth_attempts", "event.outcome": "failure", "user.name": "root"},
    ),
    (
        T + "sshd[1332]: subsystem request for sftp by user alice",
        {
            "event.action": "ssh_subsystem",
            "event.category": ["session", "process"],
            "user.name": "alice",
            "labels.ssh_subsystem": "sftp",
        },
    ),
    (
        T + "sshd-session[1332]: Accepted password for bob from 2001:db8::7 port 2200 ssh2",
        {"event.action": "ssh_login", "source.ip": "2001:db8::7", "process.name": "sshd-session"},
    ),
    (
        T + "sshd[1332]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)",
        {"event.action": "session_opened", "user.name": "alice", "user.id": "1000", "user.effective": None},
    ),
    (
        T + "sudo: pam_unix(sudo:session): session opened for user root(uid=0) by vagrant(uid=1000)",
        {
            "event.action": "session_opened",
            "user.name": "vagrant",
            "user.id": "1000",
            "user.effective.name": "root",
            "user.effective.id": "0",
            "related.user": ["vagrant", "root"],
        },
    ),
    (
        T + "su[99]: pam_unix(su:auth): authentication failure; logname=alice uid=1000 euid=0 tty=pts/0 "
        "ruser=alice rhost=  user=root",
        {
            "event.action": "pam_authentication_failure",
            "user.name": "alice",
            "user.id": "1000",
            "user.effective.name": "root",
            "source": None,
        },
    ),
    (
        T + "sshd[1332]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
        "rhost=198.51.100.4  user=root",
        {
            "event.action": "pam_authentication_failure",
            "user.name": "root",
            "user.id": None,
            "source.ip": "198.51.100.4",
        },
    ),
    (
        T + 'sshd[1332]: pam_succeed_if(sshd:auth): requirement "uid >= 1000" not met by user "root"',
        {"event.action": "pam_requirement", "event.outcome": "failure", "user.name": "root"},
    ),
    (
        T + "passwd[77]: pam_unix(passwd:chauthtok): password changed for bob",
        {
            "event.action": "password_changed",
            "event.category": ["iam"],
            "event.type": ["user", "change"],
            "user.target.name": "bob",
        },
    ),
    (
        T + "sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls -l",
        {
            "event.action": "sudo_command",
            "event.category": ["process"],
            "event.type": ["start"],
            "user.name": "alice",
            "user.effective.name": "root",
            "process.command_line": "/bin/ls -l",
        },
    ),
    (
        T + "sudo:    alice : PWD=/ ; USER=root ; COMMAND=/usr/bin/id",
        {"event.action": "sudo_command", "labels.tty": None, "process.working_directory": "/"},
    ),
    (
        T + "sudo:      bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/sh",
        {"event.action": "sudo_auth_failure", "event.category": ["authentication"], "event.outcome": "failure"},
    ),
    (
        T + "sudo:      tsg : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/tsg ; USER=root ; COMMAND=/bin/ls",
        {
            "event.action": "sudo_not_in_sudoers",
            "event.category": ["authentication"],
            "event.type": ["info"],
            "event.outcome": "failure",
            "user.name": "tsg",
            "event.reason": "user NOT in sudoers",
        },
    ),
    (
        T + "sudo:      tsg : command not allowed ; PWD=/ ; USER=root ; COMMAND=/bin/rm -rf /",
        {"event.action": "sudo_denied", "event.reason": "command not allowed"},
    ),
    (
        T + "groupadd[6991]: new group: name=apache, GID=48",
        {
            "event.action": "group_created",
            "event.category": ["iam"],
            "event.type": ["group", "creation"],
            "group.name": "apache",
            "group.id": "48",
            "event.outcome": "success",
        },
    ),
    (
        T + "groupadd[6991]: group added to /etc/group: name=apache, GID=48",
        {"event.action": "group_created", "group.name": "apache"},
    ),
    (
        T
        + "useradd[6995]: new user: name=apache, UID=48, GID=48, home=/usr/share/httpd, shell=/sbin/nologin, from=none",
        {
            "event.action": "user_created",
            "event.type": ["user", "creation"],
            "user.target.name": "apache",
            "user.target.id": "48",
            "group.id": "48",
        },
    ),
    (
        T + "useradd[6995]: add 'bob' to group 'sudo'",
        {
            "event.action": "user_added_to_group",
            "event.type": ["user", "group", "change"],
            "user.target.name": "bob",
            "group.name": "sudo",
        },
    ),
    (
        T + "usermod[7001]: change user 'bob' shell from '/bin/sh' to '/bin/bash'",
        {"event.action": "user_changed", "event.type": ["user", "change"], "user.target.name": "bob"},
    ),
    (
        T + "userdel[7002]: delete user 'bob'",
        {"event.action": "user_deleted", "event.type": ["user", "deletion"], "user.target.name": "bob"},
    ),
    (
        T + "groupdel[7003]: group 'olds' removed",
        {"event.action": "group_deleted", "event.type": ["group", "deletion"], "group.name": "olds"},
    ),
    (
        T + "passwd[7004]: password for 'bob' changed by 'root'",
        {"event.action": "password_changed", "user.name": "root", "user.target.name": "bob"},
    ),
    (
        T + "chage[7005]: changed password expiry for bob",
        {"event.action": "password_expiry_changed", "event.type": ["user", "change"], "user.target.name": "bob"},
    ),
    (
        T + "useradd[7006]: failed adding user 'x', exit code: 9",
        {"event.action": "useradd_message", "event.category": ["iam"], "event.outcome": "failure"},
    ),
    (
        T + "systemd-logind[500]: New session 3 of user alice.",
        {"event.action": "auth_log_line", "event.category": ["host"], "event.outcome": "unknown"},
    ),
]


@pytest.mark.parametrize("text, expected", AUTH, ids=[t[len(T) : 40] for t, _ in AUTH])
def test_auth_message_classes_field_by_field(text, expected):
    doc = parse_auth(text)
    assert {path: get(doc, path) for path in expected} == expected
    assert doc["event"]["kind"] == "event" and doc["event"]["dataset"] == "system.auth"
    assert doc["event"]["original"] == text and doc["host"]["hostname"] == "web-1"
    assert ecs_valid(doc["event"]["category"], doc["event"]["type"])


def test_times_without_a_zone_take_the_inputs_zone():
    year = dt.datetime.now(dt.timezone.utc).year
    assert parse_auth("Jan 15 10:00:00 h sshd[1]: x")["@timestamp"] == f"{year}-01-15T10:00:00.000000Z"
    assert parse_auth("Jan 15 10:00:00 h sshd[1]: x", "Europe/Berlin")["@timestamp"].endswith("-01-15T09:00:00.000000Z")
    assert parse_auth("2026-07-01T10:00:00 h sshd[1]: x")["@timestamp"] == "2026-07-01T10:00:00.000000Z"
    assert (
        parse_auth("2026-07-01T10:00:00.5 h sshd[1]: x", "Europe/Berlin")["@timestamp"] == "2026-07-01T08:00:00.500000Z"
    )
    assert (
        parse_auth("2026-07-01T10:00:00+05:00 h sshd[1]: x", "Europe/Berlin")["@timestamp"]
        == "2026-07-01T05:00:00.000000Z"
    )
    now = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    doc = parse_message(b"<38>Jan 15 10:00:00 h sshd[1]: x", now, dt.timezone(dt.timedelta(hours=-5)))
    assert doc["@timestamp"] == "2026-01-15T15:00:00.000000Z"
    doc = parse_message(b"<38>1 2026-01-15T10:00:00 h sshd 1 - - x", now, dt.timezone(dt.timedelta(hours=1)))
    assert doc["@timestamp"] == "2026-01-15T09:00:00.000000Z"


def test_an_empty_hostname_parses_and_the_agents_host_stands_in():
    doc = parse_auth("Feb 22 10:21:43  sshd[1332]: Invalid user admin from 10.0.0.9 port 22")
    assert doc["event"]["action"] == "ssh_invalid_user" and doc["process"]["name"] == "sshd"
    assert doc["host"] == {"name": "agent-host"} and doc["user"]["name"] == "admin"
    doc = parse_auth("2026-02-22T10:21:43+00:00  sudo:    alice : PWD=/ ; USER=root ; COMMAND=/bin/true")
    assert doc["event"]["action"] == "sudo_command" and doc["host"] == {"name": "agent-host"}


def test_the_docs_table_is_the_parsers_table():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "ecs-categorisation.md").read_text()
    for record_type, (action, category, types) in RECORD_TYPES.items():
        assert f"| `{record_type}` | `{action}` | {', '.join(category)} | {', '.join(types)} |" in doc, record_type
