"""Ingest: the mTLS/HTTP shell (``server``, ``guard``, ``tls_refusals``) around the pure
decision (``accept``: ``admit`` per event, dedupe against the journal's marks, ``gaps``),
and one table of answers (``answers``). Imports the journal port, never a backend."""
