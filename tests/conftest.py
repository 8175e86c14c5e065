import pytest

from tests.ceph import Ceph


@pytest.fixture(scope="session")
def ceph(tmp_path_factory):
    """A one-host Ceph cluster with a RADOS Gateway for the whole session."""
    cluster = Ceph(tmp_path_factory.mktemp("ceph"))
    cluster.start()
    yield cluster
    cluster.stop()
