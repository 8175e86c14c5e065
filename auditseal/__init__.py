"""auditseal core: event model, wire format, record framing, config, TLS and PKI.

The agent and the collector import this package, never each other.
"""

from importlib.metadata import PackageNotFoundError, version

try:  # the installed distribution's version (pyproject.toml, or the package built from it)
    __version__ = version("auditseal")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"


def version_text(program: str) -> str:
    """What ``--version`` prints: ``auditseal-agent 0.1.0 (Python 3.11.2)``."""
    import platform

    return f"{program} {__version__} (Python {platform.python_version()})"
