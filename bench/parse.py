#!/usr/bin/env python3
"""Parse speed of ``format: auth`` and ``format: auditd`` on one core: a mixed 200,000-line
auth.log + audit.log (sshd, PAM, sudo, shadow-utils lines; user-space audit records and
multi-record kernel events), in reads of 256 KiB as the file input makes them.

    .venv/bin/python bench/parse.py [--lines 200000] [--rounds 5] [--compare REV]

``--compare REV`` runs the same measurement on a git worktree of REV (in its own process,
alternating rounds, so both share the machine's state) and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

AUTH = [
    "{t} web-{h} sshd[{p}]: Accepted publickey for alice from 203.0.113.{o} port {port} ssh2: ED25519 SHA256:abc",
    "{t} web-{h} sshd[{p}]: Failed password for invalid user admin from 198.51.100.{o} port {port} ssh2",
    "{t} web-{h} sshd[{p}]: Invalid user oracle from 198.51.100.{o} port {port}",
    "{t} web-{h} sshd[{p}]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)",
    "{t} web-{h} sshd[{p}]: Disconnected from user alice 203.0.113.{o} port {port}",
    "{t} web-{h} sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart x",
    "{t} web-{h} sudo: pam_unix(sudo:auth): authentication failure; logname=bob uid=1001 euid=0 tty=/dev/pts/1 "
    "ruser=bob rhost=  user=bob",
    "{t} web-{h} CRON[{p}]: pam_unix(cron:session): session closed for user root",
    "{t} web-{h} useradd[{p}]: new user: name=svc{o}, UID=1{o}, GID=1{o}, home=/home/svc, shell=/bin/sh, from=none",
    "{t} web-{h} systemd-logind[{p}]: New session {o} of user alice.",
]
AUDIT_USER = [
    "type=USER_LOGIN msg=audit({e}:{s}): pid={p} uid=0 auid=1000 ses=3 subj=unconfined msg='op=login id=1000 "
    'exe="/usr/sbin/sshd" hostname=203.0.113.7 addr=203.0.113.7 terminal=/dev/pts/0 res=success\'',
    "type=USER_AUTH msg=audit({e}:{s}): pid={p} uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication "
    'grantors=? acct="bob" exe="/usr/sbin/sshd" hostname=198.51.100.23 addr=198.51.100.23 terminal=ssh res=failed\'',
    "type=CRED_ACQ msg=audit({e}:{s}): pid={p} uid=0 auid=1000 ses=3 msg='op=PAM:setcred grantors=pam_unix "
    'acct="alice" exe="/usr/sbin/sshd" hostname=203.0.113.7 addr=203.0.113.7 terminal=ssh res=success\'',
    "type=SERVICE_START msg=audit({e}:{s}): pid=1 uid=0 auid=4294967295 ses=4294967295 msg='unit=nginx "
    'comm="systemd" exe="/usr/lib/systemd/systemd" hostname=? addr=? terminal=? res=success\'',
]
AUDIT_KERNEL = [
    "type=SYSCALL msg=audit({e}:{s}): arch=c000003e syscall=59 success=yes exit=0 a0=55d a1=55e a2=55f a3=0 "
    "items=2 ppid=2200 pid={p} auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 "
    'comm="cat" exe="/usr/bin/cat" subj=unconfined key="exec"',
    'type=EXECVE msg=audit({e}:{s}): argc=2 a0="cat" a1="/etc/shadow"',
    'type=CWD msg=audit({e}:{s}): cwd="/root"',
    'type=PATH msg=audit({e}:{s}): item=0 name="/usr/bin/cat" inode=1 dev=08:01 mode=0100755 ouid=0 ogid=0 '
    "rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0",
    "type=PROCTITLE msg=audit({e}:{s}): proctitle=636174002F6574632F736861646F77",
    "type=EOE msg=audit({e}:{s}):",
]


def corpus(n: int) -> tuple[bytes, bytes]:
    """Two files' content, half the lines each: auth.log, audit.log."""
    rng = random.Random(7)
    auth, audit = [], []
    serial = 1000
    while len(auth) < n // 2:
        tmpl = rng.choice(AUTH)
        auth.append(
            tmpl.format(
                t="Nov 28 10:15:01",
                h=rng.randrange(9),
                p=rng.randrange(1, 99999),
                o=rng.randrange(1, 250),
                port=rng.randrange(1024, 65535),
            )
        )
    while len(audit) < n // 2:
        serial += 1
        e, p = f"17643249{rng.randrange(10, 99)}.123", rng.randrange(1, 99999)
        if rng.random() < 0.5:
            audit.append(rng.choice(AUDIT_USER).format(e=e, s=serial, p=p))
        else:
            audit.extend(t.format(e=e, s=serial, p=p) for t in AUDIT_KERNEL)
    return ("\n".join(auth) + "\n").encode(), ("\n".join(audit[: n // 2]) + "\n").encode()


def measure(root: str, n: int, rounds: int) -> list[float]:
    """lines/s of each round, parsing with the code under ``root``."""
    sys.path.insert(0, root)
    from agent.lines import split_lines
    from agent.normalise import Source
    import agent.parsers.auditd  # noqa: F401  (registers the format)
    import agent.parsers.auth  # noqa: F401
    from agent.parsers import REGISTRY, parse_safely

    auth, audit = corpus(n)
    source = Source("acme", "bench-host")
    reads = []
    for fmt, data in (("auth", auth), ("auditd", audit)):
        offset = 0
        while offset < len(data):
            chunk = data[offset : offset + 256 * 1024]
            split = split_lines(chunk, offset, 256 * 1024, False)
            reads.append((fmt, split.lines))
            offset += split.consumed
    out = []
    for _ in range(rounds):
        parsers = {"auth": REGISTRY["auth"](None), "auditd": REGISTRY["auditd"](None)}
        lines = events = 0
        start = time.process_time()
        for fmt, batch in reads:
            parsed = parse_safely(parsers[fmt], batch, source, "2026-11-28T12:00:00.000000Z", True)
            lines += len(batch)
            events += len(parsed.events)
        out.append(lines / (time.process_time() - start))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--compare", help="a git revision to measure beside this tree")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        print(json.dumps(measure(args._child, args.lines, 1)))
        return
    trees = {"this tree": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        if args.compare:
            other = os.path.join(tmp, "other")
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", other, args.compare], check=True
            )
            trees[args.compare] = other
        results: dict[str, list[float]] = {name: [] for name in trees}
        try:
            for _ in range(args.rounds):  # alternate, so both see the same machine
                for name, root in trees.items():
                    run = subprocess.run(
                        [sys.executable, __file__, "--lines", str(args.lines), "--_child", root],
                        capture_output=True,
                        text=True,
                        check=True,
                        cwd=root,
                    )
                    results[name] += json.loads(run.stdout)
        finally:
            if args.compare:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", other], check=False)
    print(f"parse, {args.lines:,} mixed auth.log + audit.log lines, {args.rounds} rounds, one core (CPU time)")
    for name, values in results.items():
        print(f"  {name:12s} median {statistics.median(values):>10,.0f} lines/s   best {max(values):>10,.0f}")
    if args.compare:
        ratio = statistics.median(results["this tree"]) / statistics.median(results[args.compare])
        print(f"  ratio this tree / {args.compare}: {ratio:.2f}")


if __name__ == "__main__":
    main()
