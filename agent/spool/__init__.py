"""The agent's write-ahead spool: pure record/ledger logic (``ledger``), the one I/O store
(``store.Spool``), and a read-only view for ``auditseal-agent status`` (``view``)."""

from .ledger import EVENT, LEDGER_VERSION, MAGIC, POSITIONS, Recovered, ResumeTracker, holes
from .store import Spool
from .view import SpoolView, view

__all__ = [
    "EVENT",
    "LEDGER_VERSION",
    "MAGIC",
    "POSITIONS",
    "Recovered",
    "ResumeTracker",
    "Spool",
    "SpoolView",
    "holes",
    "view",
]
