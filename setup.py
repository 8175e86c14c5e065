"""Package layout only (everything else is in pyproject.toml): the program folders agent/ and
collector/ install under names that cannot clash with other software's "agent" or "collector"."""

from setuptools import find_namespace_packages, find_packages, setup

PROGRAMS = {"agent": "auditseal_agent", "collector": "auditseal_collector"}


def renamed(folder: str, name: str) -> list[str]:
    # Namespace search, so data-only folders (admin/ui) are packages too and carry their files.
    return [name, *(f"{name}.{sub}" for sub in find_namespace_packages(folder, exclude=["*__pycache__*"]))]


setup(
    package_dir={name: folder for folder, name in PROGRAMS.items()},
    packages=find_packages(include=["auditseal", "auditseal.*"])
    + [p for folder, name in PROGRAMS.items() for p in renamed(folder, name)],
)
