import pytest

from tests.ceph import Ceph


@pytest.fixture(scope="session")
def ceph(tmp_path_factory):
    """A one-host Ceph cluster with a RADOS Gateway for the whole session."""
    cluster = Ceph(tmp_path_factory.mktemp("ceph"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def es():
    """The Elasticsearch API: this suite's test server, or a real cluster when ES_URL is set
    (``make test-es-real``; tests marked ``es_faults`` need the test server's injections)."""
    import os

    from tests.es_server import ElasticsearchTestServer

    if os.environ.get("ES_URL"):
        yield RealElasticsearch(os.environ["ES_URL"])
        return
    server = ElasticsearchTestServer()
    server.start()
    yield server
    server.close()
    assert not server.unsupported, f"calls the test server does not implement: {server.unsupported}"


class RealElasticsearch:
    def __init__(self, url: str):
        self.url = url
        self.unsupported: list[str] = []
