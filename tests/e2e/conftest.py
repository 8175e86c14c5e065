import pytest
import yaml

from tests.harness import Pipeline


@pytest.fixture
def pipeline(tmp_path):
    pipe = Pipeline(tmp_path / "pipe")
    yield pipe
    pipe.stop()
    # A test that passes with an error in either log hides a bug: show them on failure.
    secret = yaml.safe_load((pipe.root / "pki" / "agent-demo-agent.hmac.yaml").read_text())["secret"]
    for proc in (pipe.agent, pipe.collector):
        assert "Traceback" not in proc.output(), proc.output()[-3000:]
        # Secrets never appear in the programs' own output.
        assert secret not in proc.output() and pipe.setup.token not in proc.output()
