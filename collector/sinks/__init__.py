"""Sinks: the port (``base``), the runner that feeds them (``runner``), the stored form
(``stored``), quarantine, and the sinks themselves (``sqlite_index``, ``sealer``, ``es``),
looked up by name in ``registry``. Imports the journal port, never a backend."""
