"""The journal port (``base``), its record payload (``batch``), the collector's own event
stream (``own_stream``) and the backends (``local``). Sinks and ingest import the port;
only the composition root (``collector.main``) picks a backend."""

from .base import Cursor, Entry, Journal, MarkMoved, Marks, Write
from .batch import BatchMeta, batch_meta, decode_batch, encode_batch, event_count

__all__ = [
    "BatchMeta",
    "Cursor",
    "Entry",
    "Journal",
    "MarkMoved",
    "Marks",
    "Write",
    "batch_meta",
    "decode_batch",
    "encode_batch",
    "event_count",
]
