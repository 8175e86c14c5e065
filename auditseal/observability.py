"""What every auditseal process exports to Prometheus besides its own metrics.

A registry from ``new_registry(program)`` has, like a Prometheus client's default registry:
process metrics (CPU, memory, open files, start time), the Python platform and its garbage
collector, and ``auditseal_<program>_build_info`` (version, Python). No ``*_created`` series
(they double every counter for nothing a scraper uses). ``before_scrape`` hooks run at each
scrape, first, so gauges computed from state (journal size, lag) are current whenever anyone
looks, not only when someone asks ``/readyz``.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable, Iterable

import prometheus_client
from prometheus_client import CollectorRegistry, GCCollector, Info, PlatformCollector, ProcessCollector

from auditseal import __version__

prometheus_client.disable_created_metrics()
log = logging.getLogger(__name__)


class _BeforeScrape:
    """A collector with no metrics of its own: it runs the hooks when the registry collects."""

    def __init__(self) -> None:
        self.hooks: list[Callable[[], object]] = []

    def describe(self) -> Iterable:
        return []

    def collect(self) -> Iterable:
        for hook in self.hooks:
            try:
                hook()
            except Exception:  # a scrape must answer even if one gauge cannot be computed
                log.exception("a metrics hook failed")
        return []


class Registry(CollectorRegistry):
    def __init__(self, program: str) -> None:
        super().__init__()
        self._before = _BeforeScrape()
        self.register(self._before)  # first: the registry collects in registration order
        ProcessCollector(registry=self)
        PlatformCollector(registry=self)
        GCCollector(registry=self)
        Info(f"auditseal_{program}_build", f"The running auditseal {program}", registry=self).info(
            {"version": __version__, "python": platform.python_version()}
        )

    def before_scrape(self, hook: Callable[[], object]) -> None:
        self._before.hooks.append(hook)


def zero(counter, *label_sets: tuple) -> None:
    """Create a labelled counter's series at 0, so ``increase()`` sees its first event."""
    for labels in label_sets:
        counter.labels(*labels)
