"""The deb and rpm packages, built by ``packaging/build.py`` as ``make packages`` builds them,
installed on this machine with dpkg (and the rpm into a scratch root): the installed agent
ships to a collector on loopback; an upgrade keeps an edited config and the spool; removal
keeps config and state; purge removes them. The units pass ``systemd-analyze verify``, the
Dockerfiles hadolint, and the installed collector checks its shipped config and runs the
README's quick start (scripts/run-local.sh) from its own programs."""

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.harness import Pipeline, Proc, assert_exactly_once, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
OLD, NEW = "0.9.0", "0.9.1"


def run(*args, check=True, **kwargs):
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs)
    if check:
        assert done.returncode == 0, (args, done.stdout[-3000:], done.stderr[-3000:])
    return done


def installed(package: str) -> str | None:
    done = run("dpkg-query", "-W", "-f=${Status} ${Version}", package, check=False)
    return done.stdout.split()[-1] if done.returncode == 0 and "installed" in done.stdout else None


def purge_all():
    for package in ("auditseal-agent", "auditseal-collector"):
        run("dpkg", "--purge", package, check=False)


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    assert os.geteuid() == 0, "dpkg -i and the build's mount namespace need root (CI runs as root)"
    for tool in ("dpkg", "rpm", "systemd-analyze", "unshare"):
        assert shutil.which(tool), f"scripts/test-deps.sh installs {tool}"
    assert not installed("auditseal-agent") and not installed("auditseal-collector"), "remove them first"
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    run(sys.executable, ROOT / "packaging" / "build.py", "--version", f"{OLD},{NEW}", "--out", out, env=env)
    yield out
    purge_all()


def package(dist: Path, program: str, version: str, fmt: str = "deb") -> Path:
    pattern = (
        f"auditseal-{program}_{version}-1_amd64.deb" if fmt == "deb" else f"auditseal-{program}-{version}-1.x86_64.rpm"
    )
    [found] = dist.glob(pattern)
    return found


def test_deb_install_ship_upgrade_remove_purge(dist, tmp_path):
    run("dpkg", "-i", package(dist, "agent", OLD))
    assert installed("auditseal-agent") == f"{OLD}-1"
    user = pwd.getpwnam("auditseal")
    state = Path("/var/lib/auditseal/agent")
    assert state.is_dir() and state.stat().st_uid == user.pw_uid and stat.S_IMODE(state.stat().st_mode) == 0o750
    config = Path("/etc/auditseal/agent.yaml")
    assert stat.S_IMODE(config.stat().st_mode) == 0o640 and config.stat().st_gid == user.pw_gid
    assert os.path.realpath("/usr/bin/auditseal-agent") == "/opt/auditseal/agent/bin/auditseal-agent"
    # The agent's environment holds no collector code and none of the collector's libraries.
    site = next(Path("/opt/auditseal/agent/lib").glob("python3*/site-packages"))
    assert (site / "auditseal_agent").is_dir() and not (site / "auditseal_collector").exists()
    for heavy in ("boto3", "elasticsearch", "apscheduler", "nats", "jwt"):
        assert not (site / heavy).exists(), heavy
    run("systemd-analyze", "verify", "/usr/lib/systemd/system/auditseal-agent.service")
    done = run("/usr/bin/auditseal-agent", "check-config", "--config", config, check=False)
    assert done.returncode == 2 and f"{config}:" in done.stderr and "No such file" in done.stderr, done.stderr

    # Edit the shipped config to point at a collector on loopback, with the state in /var/lib.
    pipe = Pipeline(tmp_path / "pipe")
    edited = yaml.safe_load(pipe.setup.agent_config.read_text())
    edited["agent"]["state_dir"] = str(state)
    config.write_text("# edited on this host\n" + yaml.safe_dump(edited))
    agent_log = tmp_path / "installed-agent.log"
    pipe.agent = Proc(["/usr/bin/auditseal-agent", "run", "--config", str(config)], agent_log)
    try:
        pipe.start_collector()
        pipe.start_agent()
        pipe.write_events(0, 150)
        assert_exactly_once(pipe.wait_indexed(150), range(150))
        health = f"http://127.0.0.1:{pipe.agent_metrics_port}/healthz"  # the images' HEALTHCHECK
        assert json.loads(urllib.request.urlopen(health, timeout=10).read()) == {"status": "ok"}
        pipe.agent.stop()

        run("dpkg", "-i", package(dist, "agent", NEW))  # the upgrade
        assert installed("auditseal-agent") == f"{NEW}-1"
        assert config.read_text().startswith("# edited on this host"), "the edited conffile was replaced"
        pipe.agent = Proc(["/usr/bin/auditseal-agent", "run", "--config", str(config)], agent_log)
        pipe.start_agent()
        pipe.write_events(150, 150)
        assert_exactly_once(pipe.wait_indexed(300), range(300))  # numbering went on from the spool
    finally:
        pipe.stop()
    assert "Traceback" not in agent_log.read_text()

    run("dpkg", "-r", "auditseal-agent")
    assert not Path("/opt/auditseal/agent").exists() and not os.path.lexists("/usr/bin/auditseal-agent")
    assert config.read_text().startswith("# edited on this host") and any(state.iterdir())
    run("dpkg", "-P", "auditseal-agent")
    assert not config.exists() and not state.exists() and installed("auditseal-agent") is None


def test_rpm_contents_scriptlets_and_a_scratch_root(dist, tmp_path):
    rpm = package(dist, "agent", NEW, "rpm")
    files = run("rpm", "-qlp", rpm).stdout.split()
    for path in (
        "/opt/auditseal/agent/bin/auditseal-agent",
        "/opt/auditseal/agent/pyvenv.cfg",
        "/etc/auditseal/agent.yaml",
        "/usr/lib/systemd/system/auditseal-agent.service",
        "/usr/bin/auditseal-agent",
    ):
        assert path in files, path
    assert not any("auditseal_collector" in f or "/boto3/" in f for f in files)
    assert run("rpm", "-qpc", rpm).stdout.split() == ["/etc/auditseal/agent.yaml"]
    assert "python3.11" in run("rpm", "-qpR", rpm).stdout.split()
    scripts = run("rpm", "-qp", "--scripts", rpm).stdout
    for part in (
        "postinstall scriptlet",
        "preuninstall scriptlet",
        "postuninstall scriptlet",
        "useradd --system",
        "systemctl disable --now auditseal-agent.service",
    ):
        assert part in scripts, part
    root = tmp_path / "root"
    run("rpm", "--root", root, "--initdb")
    run("rpm", "--root", root, "-i", "--nodeps", "--noscripts", rpm)
    assert run("rpm", "--root", root, "-q", "auditseal-agent").stdout.strip() == f"auditseal-agent-{NEW}-1.x86_64"
    run("rpm", "--root", root, "-V", "--nodeps", "auditseal-agent")  # every file as packaged
    assert os.readlink(root / "usr/bin/auditseal-agent") == "/opt/auditseal/agent/bin/auditseal-agent"
    shebang = (root / "opt/auditseal/agent/bin/auditseal-agent").read_text().splitlines()[0]
    assert shebang == "#!/opt/auditseal/agent/bin/python3.11"  # built at its final path
    assert "/usr/bin" in (root / "opt/auditseal/agent/pyvenv.cfg").read_text()


def test_units_and_dockerfiles_pass_their_linters(dist):
    for dockerfile in ("Dockerfile.agent", "Dockerfile.collector"):
        done = run(VENV_BIN / "hadolint", "--failure-threshold", "error", ROOT / dockerfile, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    for program in ("agent", "collector"):
        unit = ROOT / "packaging" / "systemd" / f"auditseal-{program}.service"
        score = run("systemd-analyze", "security", "--offline=true", unit).stdout
        exposure = float(score.rsplit("Overall exposure level", 1)[1].split(":")[1].split()[0])
        assert exposure <= 2.0, score[-500:]


def test_installed_collector_checks_its_config_and_runs_the_quick_start(dist, tmp_path):
    run("dpkg", "-i", package(dist, "collector", NEW), package(dist, "agent", NEW))
    try:
        run("systemd-analyze", "verify", "/usr/lib/systemd/system/auditseal-collector.service")
        done = run(
            "/usr/bin/auditseal-collector", "check-config", "--config", "/etc/auditseal/collector.yaml", check=False
        )
        assert done.returncode == 2, done.stderr
        first = done.stderr.strip().splitlines()[0]
        assert first.startswith("auditseal-collector: /etc/auditseal/collector.yaml:") and "No such file" in first, (
            first
        )
        assert "Traceback" not in done.stderr
        site = next(Path("/opt/auditseal/collector/lib").glob("python3*/site-packages"))
        assert not (site / "auditseal_agent").exists() and (site / "boto3").is_dir()

        # The README's quick start (make run = scripts/run-local.sh) with the installed programs.
        env = {
            **os.environ,
            "RUN_DIR": str(tmp_path / "run"),
            "BIN": "/usr/bin",
            "INGEST_PORT": str(free_port()),
            "ADMIN_PORT": str(free_port()),
        }
        try:
            done = run("bash", ROOT / "scripts" / "run-local.sh", "start", env=env, cwd=tmp_path)
            assert "appended 20 events" in done.stdout and "The pipeline is running" in done.stdout, done.stdout
            token = (tmp_path / "run" / "admin-token").read_text().strip()
            query = [
                "/usr/bin/auditseal",
                "query",
                "--collector",
                f"http://127.0.0.1:{env['ADMIN_PORT']}",
                "--token",
                token,
                "--tenant",
                "acme",
                "--q",
                "sample",
                "--count",
            ]
            wait_for(lambda: run(*query, check=False).stdout.strip() == "20", 90, "the 20 sample events, queried")
        finally:
            run("bash", ROOT / "scripts" / "run-local.sh", "stop", env=env, cwd=tmp_path)
        wait_for(lambda: not (tmp_path / "run" / "agent.pid").exists(), 20, "the quick start's programs stopped")
    finally:
        purge_all()
    assert not Path("/opt/auditseal").exists() or not any(Path("/opt/auditseal").iterdir())
