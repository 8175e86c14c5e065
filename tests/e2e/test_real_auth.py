"""Real programs writing a real auth.log: Debian's OpenSSH server on a loopback port, sudo,
useradd, groupadd and passwd log through syslog(3) to an rsyslogd that this test starts on
/dev/log; the agent tails that auth.log (``format: auth``) and ships to a collector. Each
event is checked field by field as the collector stored it, against the line it came from."""

import datetime as dt
import grp
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.harness import Pipeline, free_port, wait_for
from tests.test_parsers import fields

PROGRAMS = ("sshd", "ssh", "sshpass", "sudo", "useradd", "groupadd", "passwd", "chpasswd", "runuser", "rsyslogd")
SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]


def run(*args, stdin: str | None = None, check=True, cwd="/"):
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60, cwd=cwd)
    if check:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def dev_log_free() -> bool:
    """/dev/log absent, or a stale socket nobody listens on (removed)."""
    if not os.path.exists("/dev/log"):
        return True
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            s.connect("/dev/log")
        except OSError:
            os.unlink("/dev/log")
            return True
    return False


@pytest.fixture
def host_programs(tmp_path):
    """rsyslogd on /dev/log writing auth.log, an sshd on a loopback port, two users and a group
    made with the real tools, and a sudoers rule; all removed afterwards."""
    missing = [p for p in PROGRAMS if not (shutil.which(p) or os.path.exists(f"/usr/sbin/{p}"))]
    assert not missing, f"scripts/test-deps.sh installs these: {missing}"
    assert os.geteuid() == 0, "sshd, useradd and sudo's logs need root (CI runs as root)"
    assert dev_log_free(), "another syslog daemon holds /dev/log; this test needs its own rsyslogd there"
    work = tmp_path / "host"
    work.mkdir()
    auth_log = work / "auth.log"
    (work / "rsyslog.conf").write_text(
        f'global(workDirectory="{work}")\n'
        'module(load="imuxsock" SysSock.Name="/dev/log")\n'
        f'auth,authpriv.* action(type="omfile" file="{auth_log}")\n'
    )
    procs = []
    rsyslog = subprocess.Popen(
        ["rsyslogd", "-n", "-f", str(work / "rsyslog.conf"), "-i", str(work / "rsyslog.pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    procs.append(rsyslog)
    suffix = secrets.token_hex(3)
    names = {"alice": f"asta{suffix}", "bob": f"astb{suffix}", "group": f"astg{suffix}", "ghost": f"astn{suffix}"}
    sudoers = Path(f"/etc/sudoers.d/auditseal-test-{suffix}")
    try:
        wait_for(lambda: os.path.exists("/dev/log"), 15, "rsyslogd's /dev/log")
        port = free_port()
        for key in ("hostkey", "id"):
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / key))
        (work / "sshd_config").write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {work / 'hostkey'}\nPidFile {work / 'sshd.pid'}\n"
            "UsePAM yes\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
            "StrictModes no\nLogLevel INFO\nSyslogFacility AUTH\n"
        )
        os.makedirs("/run/sshd", exist_ok=True)
        sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", str(work / "sshd_config")], stderr=subprocess.PIPE)
        procs.append(sshd)
        wait_for(lambda: _listening(port) or sshd.poll() is not None, 15, "sshd listening")
        assert sshd.poll() is None, sshd.stderr.read()
        yield {"work": work, "auth_log": auth_log, "port": port, "names": names, "sudoers": sudoers}
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(10)
        for user in (names["alice"], names["bob"]):
            subprocess.run(["userdel", "-r", user], capture_output=True)
        subprocess.run(["groupdel", names["group"]], capture_output=True)
        sudoers.unlink(missing_ok=True)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def stored_line_time(line: str) -> str:
    moment = dt.datetime.fromisoformat(line.split(" ", 1)[0])
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_real_sshd_sudo_and_shadow_utils_lines_arrive_as_ecs_events(host_programs, tmp_path):
    h = host_programs
    n = h["names"]
    alice, bob, group, ghost = n["alice"], n["bob"], n["group"], n["ghost"]
    work, port = h["work"], str(h["port"])

    # -- what happens on the host ------------------------------------------------------
    run("groupadd", group)
    run("useradd", "-m", "-s", "/bin/sh", alice)
    run("useradd", "-m", "-s", "/bin/sh", bob)
    run("passwd", alice, stdin="Pw-alice-1\nPw-alice-1\n")
    run("chpasswd", stdin=f"{bob}:Pw-bob-1\n")
    h["sudoers"].write_text(f"{alice} ALL=(root) /usr/bin/id\n")
    h["sudoers"].chmod(0o440)
    ssh_dir = Path(pwd.getpwnam(alice).pw_dir) / ".ssh"
    ssh_dir.mkdir()
    shutil.copy(work / "id.pub", ssh_dir / "authorized_keys")
    shutil.chown(ssh_dir, alice)
    shutil.chown(ssh_dir / "authorized_keys", alice)

    key_login = ["ssh", "-i", str(work / "id"), "-p", port, *SSH_OPTS, "-o", "BatchMode=yes"]
    run(*key_login, f"{alice}@127.0.0.1", "true")
    run(
        "sshpass",
        "-p",
        "wrong-password",
        "ssh",
        "-p",
        port,
        *SSH_OPTS,
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=password",
        "-o",
        "NumberOfPasswordPrompts=1",
        f"{alice}@127.0.0.1",
        "true",
        check=False,
    )
    assert run(*key_login, f"{ghost}@127.0.0.1", "true", check=False).returncode != 0
    sudo = ["sudo", "-k", "-S", "-p", "", "/usr/bin/id"]
    assert "uid=0(root)" in run("runuser", "-u", alice, "--", *sudo, stdin="Pw-alice-1\n").stdout
    assert run("runuser", "-u", alice, "--", *sudo, stdin="not-the-password\n", check=False).returncode != 0
    assert run("runuser", "-u", bob, "--", *sudo, stdin="Pw-bob-1\n", check=False).returncode != 0

    lines = wait_for(
        lambda: (t := h["auth_log"].read_text()).count(" sudo: ") >= 3 and "Disconnected from user" in t and t,
        30,
        "the programs' lines in auth.log",
    ).splitlines()

    # -- what the agent ships ----------------------------------------------------------
    inputs = [{"type": "file", "name": "auth", "paths": [str(h["auth_log"])], "format": "auth", "tenant": "acme"}]
    pipe = Pipeline(tmp_path / "pipe", agent_overrides={"inputs": inputs})
    try:
        pipe.start_collector()
        pipe.start_agent()

        def ours():
            return [d for d in pipe.index_docs() if d["event"].get("dataset") == "system.auth"]

        def all_stored():
            # The programs may still add lines (a session closing, sshd's own exit): compare
            # with the file as it is now, not as it was when the last program returned.
            now = h["auth_log"].read_text().splitlines()
            return len(d := ours()) >= len(now) and (d, now)

        docs, lines = wait_for(all_stored, 60, "every auth.log line stored")
    finally:
        pipe.stop()
    assert len(docs) == len(lines) and len({d["event"]["id"] for d in docs}) == len(lines)  # each line once
    by_line = {d["event"]["original"]: d for d in docs}
    assert set(by_line) == set(lines)

    def one(fragment: str) -> dict:
        [line] = [x for x in lines if fragment in x]
        doc = by_line[line]
        hostname = line.split(" ")[1]
        assert doc["@timestamp"] == stored_line_time(line) and doc["host"]["hostname"] == hostname
        assert doc["organization"]["id"] == "acme" and doc["event"]["kind"] == "event"
        assert doc["event"]["module"] == "system" and doc["agent"]["id"]
        return doc

    uid = {name: str(pwd.getpwnam(name).pw_uid) for name in (alice, bob)}
    doc = one(f"Accepted publickey for {alice} from 127.0.0.1")
    assert fields(
        doc,
        "event.action",
        "event.category",
        "event.type",
        "event.outcome",
        "user.name",
        "source.ip",
        "labels.ssh_method",
        "process.name",
        "related.user",
    ) == {
        "event.action": "ssh_login",
        "event.category": ["authentication", "session"],
        "event.type": ["info"],
        "event.outcome": "success",
        "user.name": alice,
        "source.ip": "127.0.0.1",
        "labels.ssh_method": "publickey",
        "process.name": "sshd",
        "related.user": [alice],
    }
    assert isinstance(doc["source"]["port"], int) and isinstance(doc["process"]["pid"], int)

    doc = one(f"Failed password for {alice} from 127.0.0.1")
    assert fields(doc, "event.action", "event.category", "event.outcome", "user.name", "source.ip", "event.reason") == {
        "event.action": "ssh_login",
        "event.category": ["authentication"],
        "event.outcome": "failure",
        "user.name": alice,
        "source.ip": "127.0.0.1",
        "event.reason": "bad password",
    }
    doc = one("pam_unix(sshd:auth): authentication failure;")
    assert fields(doc, "event.action", "event.outcome", "user.name", "source.ip") == {
        "event.action": "pam_authentication_failure",
        "event.outcome": "failure",
        "user.name": alice,
        "source.ip": "127.0.0.1",
    }

    doc = one(f"Invalid user {ghost} from 127.0.0.1")
    assert fields(doc, "event.action", "event.category", "event.outcome", "user.name", "event.reason") == {
        "event.action": "ssh_invalid_user",
        "event.category": ["authentication"],
        "event.outcome": "failure",
        "user.name": ghost,
        "event.reason": "invalid user",
    }

    doc = one(f"Disconnected from user {alice} 127.0.0.1")
    assert fields(doc, "event.action", "event.category", "event.type", "user.name", "source.ip") == {
        "event.action": "ssh_logout",
        "event.category": ["session"],
        "event.type": ["end"],
        "user.name": alice,
        "source.ip": "127.0.0.1",
    }
    doc = one(f"pam_unix(sshd:session): session opened for user {alice}(uid={uid[alice]}) by (uid=0)")
    assert fields(doc, "event.action", "user.name", "user.id", "labels.pam_service") == {
        "event.action": "session_opened",
        "user.name": alice,
        "user.id": uid[alice],
        "labels.pam_service": "sshd",
    }

    doc = one(f"sudo: {alice} : PWD=/ ; USER=root ; COMMAND=/usr/bin/id")
    assert fields(
        doc,
        "event.action",
        "event.category",
        "event.type",
        "event.outcome",
        "user.name",
        "user.effective.name",
        "process.command_line",
        "process.working_directory",
        "process.name",
    ) == {
        "event.action": "sudo_command",
        "event.category": ["process"],
        "event.type": ["start"],
        "event.outcome": "success",
        "user.name": alice,
        "user.effective.name": "root",
        "process.command_line": "/usr/bin/id",
        "process.working_directory": "/",
        "process.name": "sudo",
    }
    doc = one(f"session opened for user root(uid=0) by (uid={uid[alice]})")  # sudo's PAM session
    assert fields(doc, "user.id", "user.effective.name", "user.effective.id", "labels.pam_service") == {
        "user.id": uid[alice],
        "user.effective.name": "root",
        "user.effective.id": "0",
        "labels.pam_service": "sudo",
    }

    doc = one(f"sudo: {alice} : 1 incorrect password attempt")
    assert fields(doc, "event.action", "event.category", "event.outcome", "user.name", "user.effective.name") == {
        "event.action": "sudo_auth_failure",
        "event.category": ["authentication"],
        "event.outcome": "failure",
        "user.name": alice,
        "user.effective.name": "root",
    }
    doc = one("pam_unix(sudo:auth): authentication failure;")
    assert fields(doc, "event.action", "user.name", "user.id") == {
        "event.action": "pam_authentication_failure",
        "user.name": alice,
        "user.id": uid[alice],
    }

    doc = one(f"sudo: {bob} : user NOT in sudoers")
    assert fields(
        doc,
        "event.action",
        "event.category",
        "event.type",
        "event.outcome",
        "user.name",
        "user.effective.name",
        "event.reason",
        "process.command_line",
    ) == {
        "event.action": "sudo_not_in_sudoers",
        "event.category": ["authentication"],
        "event.type": ["info"],
        "event.outcome": "failure",
        "user.name": bob,
        "user.effective.name": "root",
        "event.reason": "user NOT in sudoers",
        "process.command_line": "/usr/bin/id",
    }

    alice_pw = pwd.getpwnam(alice)
    doc = one(f"new user: name={alice},")
    assert fields(
        doc,
        "event.action",
        "event.category",
        "event.type",
        "event.outcome",
        "user.target.name",
        "user.target.id",
        "group.id",
        "process.name",
    ) == {
        "event.action": "user_created",
        "event.category": ["iam"],
        "event.type": ["user", "creation"],
        "event.outcome": "success",
        "user.target.name": alice,
        "user.target.id": str(alice_pw.pw_uid),
        "group.id": str(alice_pw.pw_gid),
        "process.name": "useradd",
    }
    doc = one(f"new group: name={group},")
    assert fields(doc, "event.action", "event.category", "event.type", "group.name", "group.id", "process.name") == {
        "event.action": "group_created",
        "event.category": ["iam"],
        "event.type": ["group", "creation"],
        "group.name": group,
        "group.id": str(grp.getgrnam(group).gr_gid),
        "process.name": "groupadd",
    }
    doc = one(" passwd[")
    assert fields(doc, "event.action", "event.category", "event.type", "user.target.name") == {
        "event.action": "password_changed",
        "event.category": ["iam"],
        "event.type": ["user", "change"],
        "user.target.name": alice,
    }
