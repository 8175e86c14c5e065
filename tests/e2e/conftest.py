import pytest

from tests.harness import Pipeline


@pytest.fixture
def pipeline(tmp_path):
    pipe = Pipeline(tmp_path / "pipe")
    yield pipe
    pipe.stop()
    # A test that passes with an error in either log hides a bug: show them on failure.
    for proc in (pipe.agent, pipe.collector):
        assert "Traceback" not in proc.output(), proc.output()[-3000:]
