"""The file input on real files, without the rest of the agent."""

import gzip
import subprocess
import sys
import time

from agent.config import FileInput
from agent.inputs.file import FileTailer
from agent.metrics import AgentMetrics
from agent.normalise import Source


def line(n: int) -> bytes:
    return b'{"event":{"action":"a","category":"file"},"labels":{"n":%d}}\n' % n


def tailer(tmp_path, **options):
    cfg = FileInput(type="file", name="t", paths=[str(tmp_path / "*")], tenant="acme", **options)
    return FileTailer(cfg, {}, Source("acme", "h"), AgentMetrics())


def drain(t):
    got = []
    for tracked in t.scan():
        while (chunk := t.read(tracked)) is not None:
            got.extend(e["labels"]["n"] for e in chunk.events)
    return got


def test_compressed_rotations_are_never_read_as_text(tmp_path):
    (tmp_path / "app.log").write_bytes(line(1))
    with gzip.open(tmp_path / "app.log.2.gz", "wb") as f:
        f.write(line(99))
    assert drain(tailer(tmp_path)) == [1]


def test_a_partial_last_line_waits_for_its_newline_or_a_quiet_timeout(tmp_path):
    path = tmp_path / "app.log"
    path.write_bytes(line(1) + line(2)[:-1])  # the second line has no newline yet
    t = tailer(tmp_path, partial_line_timeout=0.3)
    assert drain(t) == [1]
    assert drain(t) == []
    time.sleep(0.4)
    assert drain(t) == [2]  # the writer went quiet: shipped as it is
    with open(path, "ab") as f:
        f.write(b"\n" + line(3))
    assert drain(t) == [3]  # the late newline adds no empty event


def test_files_shorter_than_the_fingerprint_ship_and_identical_heads_stay_apart(tmp_path):
    (tmp_path / "a.log").write_bytes(line(1))
    (tmp_path / "b.log").write_bytes(line(1))  # byte-identical, a different file
    t = tailer(tmp_path, copy_grace=0.2)
    first = drain(t)
    time.sleep(0.3)
    assert sorted(first + drain(t)) == [1, 1]


def dry_run(setup) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "agent.main", "run", "--dry-run", "--config", str(setup.agent_config)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_dry_run_prints_events_and_commits_nothing(tmp_path):
    from auditseal.dev import devsetup

    setup = devsetup.setup(tmp_path / "dev")
    (setup.watch_dir / "app.jsonl").write_bytes(line(7) + b"not json\n")
    done = dry_run(setup)
    assert done.returncode == 0, done.stderr
    assert '"labels":{"n":7}' in done.stdout and "dead-letter" in done.stderr
    assert not (tmp_path / "dev" / "agent" / "spool").exists()


def drain_all(t):
    got, dead = [], []
    for tracked in t.scan():
        while (chunk := t.read(tracked)) is not None:
            got.extend(e["labels"]["n"] for e in chunk.events)
            dead.extend(chunk.dead)
    return got, dead


import pytest  # noqa: E402


@pytest.mark.parametrize("size", [256 * 1024, 256 * 1024 + 1, 300_000, 10_000_000])
@pytest.mark.parametrize("options", [{}, {"read_chunk_bytes": 4096}])
def test_an_over_long_line_is_dead_lettered_once_and_the_file_goes_on(tmp_path, size, options):
    """Default settings (max_line_bytes = read_chunk_bytes) and a read chunk smaller than the
    longest line: neither may freeze the file."""
    long = b'{"event":{"action":"a","category":"file"},"m":"' + b"x" * size + b'"}\n'
    (tmp_path / "app.log").write_bytes(line(1) + long + line(2) + line(3))
    t = tailer(tmp_path, **options)
    got, dead = drain_all(t)
    assert got == [1, 2, 3]
    assert [d.reason for d in dead] == ["line_too_long"]
    assert len(line(1)) < dead[0].offset <= len(line(1)) + len(long)
    assert len(dead[0].line) == 256 * 1024 and dead[0].origin.endswith("app.log")


def test_a_line_that_grows_too_large_on_re_encoding_is_dead_lettered_alone(tmp_path):
    # Within max_line_bytes as read, past the per-event limit with the fields the agent adds.
    big = b'{"event":{"action":"a","category":"file"},"m":"' + b"x" * (256 * 1024 - 200) + b'"}\n'
    (tmp_path / "app.log").write_bytes(line(1) + big + line(2))
    got, dead = drain_all(tailer(tmp_path))
    assert got == [1, 2]
    assert [d.reason for d in dead] == ["event_too_large"]


def test_dry_run_finishes_what_the_end_of_the_file_leaves_open(tmp_path):
    """An auditd kernel event with no EOE and a last line with no newline: one dry-run pass
    never reaches partial_line_timeout, so the end of the pass must finish both."""
    from auditseal.dev import devsetup

    audit = tmp_path / "audit.log"
    audit.write_text(
        "type=USER_LOGIN msg=audit(1764324901.123:456): pid=1 uid=0 auid=1000 ses=3 msg='op=login id=1000 "
        'exe="/usr/sbin/sshd" hostname=? addr=203.0.113.7 terminal=ssh res=success\'\n'
        "type=SYSCALL msg=audit(1764325100.250:800): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=2 "
        'auid=1000 uid=0 comm="cat" exe="/usr/bin/cat"\n'
        'type=EXECVE msg=audit(1764325100.250:800): argc=2 a0="cat" a1="/etc/shadow"\n'
    )
    auth = tmp_path / "auth.log"
    auth.write_text("Nov 28 10:00:00 web-1 sshd[1]: Invalid user x from 192.0.2.1 port 22")  # no newline
    inputs = [
        {"type": "file", "name": "audit", "paths": [str(audit)], "format": "auditd", "tenant": "acme"},
        {"type": "file", "name": "auth", "paths": [str(auth)], "format": "auth", "tenant": "acme"},
    ]
    done = dry_run(devsetup.setup(tmp_path / "dev", agent_overrides={"inputs": inputs}))
    assert done.returncode == 0, done.stderr
    import json

    actions = sorted(json.loads(x)["event"]["action"] for x in done.stdout.splitlines())
    assert actions == ["executed", "logged-in", "ssh_invalid_user"], done.stdout


def test_a_file_whose_unlink_is_under_way_is_never_opened_as_a_new_file(tmp_path, monkeypatch):
    """The race behind a duplicated file: unlink has already made the inode's link count 0
    (the tracked entry sees nlink 0 and becomes an orphan) while an open by path can still
    reach it. That open must not become a second entry reading the same content from 0."""
    import os

    import agent.inputs.file as file_input

    path = tmp_path / "app.log"
    path.write_bytes(b"".join(line(n) for n in range(50)))
    t = tailer(tmp_path, close_inactive=60)
    assert drain(t) == list(range(50))
    (held,) = t.files.values()
    real_fstat = os.fstat

    def fstat_mid_unlink(fd):
        st = real_fstat(fd)
        if fd == held.fd:  # what fstat says once unlink has dropped the link count
            fields = list(st)
            fields[3] = 0
            return os.stat_result(fields)
        return st

    monkeypatch.setattr(file_input.os, "fstat", fstat_mid_unlink)
    assert drain(t) == []  # before the fix: the same 50 lines again, from a second entry
    assert list(t.files.values()) == [held] and held.orphan
    monkeypatch.undo()
    with open(path, "ab") as f:
        f.write(line(50))
    assert drain(t) == [50]  # still linked after all: the entry takes it back and reads on
