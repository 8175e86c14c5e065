"""The admin API (``api``): health, metrics, queries, proofs and alerts, behind one
authentication middleware (``auth``)."""
