"""The layer rules bite: a scratch copy of the code with one wrong import fails
``lint-imports`` (the contracts in pyproject.toml, run by ``make lint`` inside ``make test``)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def scratch(tmp_path) -> Path:
    copy = tmp_path / "copy"
    for package in ("auditseal", "agent", "collector"):
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def lint(copy: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(copy)},
    )


def add_import(path: Path, line: str) -> None:
    path.write_text(path.read_text() + "\n" + line + "\n")  # a module-level import, at its end


@pytest.mark.parametrize(
    "module, line, contract",
    [
        (
            "collector/sinks/sqlite_index.py",
            "from ..journal.local import LocalJournal  # noqa",
            "Only the composition root picks a journal backend",
        ),
        (
            "collector/ingest/accept.py",
            "from auditseal.storage.segments import Position  # noqa",
            "Only the local journal backend touches segment files",
        ),
        ("collector/sinks/runner.py", "from ..ingest import accept  # noqa", "Collector layers"),
        ("collector/channels/dispatcher.py", "from ..admin import api  # noqa", "Collector layers"),
        ("auditseal/formats/wire.py", "from collector import query  # noqa", "The core imports neither program"),
        ("auditseal/formats/event.py", "from auditseal.storage import archive  # noqa", "Core wings"),
        ("agent/shipper.py", "from collector.journal import base  # noqa", "never import each other"),
    ],
)
def test_a_wrong_import_breaks_its_contract(tmp_path, module, line, contract):
    copy = scratch(tmp_path)
    assert lint(copy).returncode == 0
    add_import(copy / module, line)
    done = lint(copy)
    assert done.returncode != 0
    broken = [row for row in done.stdout.splitlines() if "BROKEN" in row]
    assert any(contract in row for row in broken), done.stdout[-2000:]


def test_every_collector_module_but_the_root_and_the_journal_is_kept_from_the_backend():
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    [contract] = [c for c in contracts if c["name"] == "Only the composition root picks a journal backend"]
    modules = {
        f"collector.{p.stem}"
        for p in (ROOT / "collector").iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.stem not in ("__init__", "main", "journal")
    }
    assert set(contract["source_modules"]) == modules
