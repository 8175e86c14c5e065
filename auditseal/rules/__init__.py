"""Alert rules (DESIGN.md section 8): the rule files' strict model (``model``) and their pure
evaluation over events in event time (``engine``). Used by the collector's alert sink and by
``auditseal rules test``; no I/O here but reading rule files."""
