"""An Elasticsearch-API test server: the documented behaviour of the calls auditseal uses.

No Elasticsearch can be installed on these machines (``../shared/notes/real-services.md``),
so the sink is tested against this: a real HTTP server the official client talks to,
answering as Elasticsearch 8 documents it:

- ``PUT/GET _ilm/policy``, ``PUT/GET _index_template`` (composable, ``data_stream``, priority);
- ``_bulk`` (NDJSON): per-item statuses inside an HTTP 200 with ``errors``; data streams
  accept only ``create``; ``create`` of an existing ``_id`` in the write index → 409
  ``version_conflict_engine_exception`` (and only there: after a rollover a resend is stored
  again, as in Elasticsearch); mapping conflicts → 400 ``document_parsing_exception``;
  data streams created on first write from the matching template;
- ``_search`` with ``bool`` (filter/must/should/must_not), ``term``, ``terms``, ``range``,
  ``match_all``, ``sort``, ``search_after``, ``_source``, ``docvalue_fields``; date sort
  values are epoch milliseconds; only *refreshed* documents are searchable (every second
  or on ``_refresh``); ``_count``, ``_refresh``, ``_rollover``, ``GET _data_stream``.

Faults: ``inject_http`` (whole requests answered 429/5xx), ``inject_items`` (item
statuses 429/503), ``inject_slow`` (store, then answer late), ``stop``/``start`` (down).
What it does not implement it refuses loudly (400 ``test_server_unsupported``) and
records in ``unsupported``; the fixtures fail a test that caused any.
"""

from .server import ElasticsearchTestServer

__all__ = ["ElasticsearchTestServer"]
