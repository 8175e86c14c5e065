import pytest

from agent.config import AgentConfig
from auditseal.config import load_config
from auditseal.errors import ConfigError
from collector.config import CollectorConfig

AGENT = """\
agent:
  id: web-1
inputs:
  - type: file
    name: app
    paths: ["/var/log/app/*.jsonl"]
output:
  collectors: ["https://c:9443"]
  tls: {cert: a.crt, key: a.key, ca: ca.crt}
  hmac_key_file: k.yaml
"""


def load(tmp_path, model, text):
    path = tmp_path / "conf.yaml"
    path.write_text(text)
    return path, lambda: load_config(model, path)


def test_a_valid_agent_config_loads(tmp_path):
    _, go = load(tmp_path, AgentConfig, AGENT)
    cfg = go()
    assert cfg.agent.id == "web-1" and cfg.batch.max_events == 5000


@pytest.mark.parametrize("text, where, message", [
    (AGENT.replace("  id: web-1\n", "  id: web-1\n  idd: 2\n"), ":3: agent.idd", "unknown key"),
    (AGENT.replace("    name: app\n", "    name: app\n    pathz: []\n"), ":6: inputs.0.pathz", "unknown key"),
    (AGENT + "batch:\n  max_events: lots\n", ":12: batch.max_events", "valid integer"),
    (AGENT.replace("type: file", "type: kafka"), ":4: inputs.0", "does not match"),
    (AGENT + "agent:\n  id: x\n", ":11: agent", "duplicate key"),
    (AGENT + "batch: [\n", ":12: (syntax)", "expected"),
    (AGENT.replace("  collectors", "  colectors"), ":8: output.colectors", "unknown key"),
])
def test_errors_name_file_line_and_key(tmp_path, text, where, message):
    path, go = load(tmp_path, AgentConfig, text)
    with pytest.raises(ConfigError) as err:
        go()
    assert str(err.value).startswith(f"{path}{where}: ")
    assert message in str(err.value)


def test_input_names_must_be_unique(tmp_path):
    text = AGENT.replace("inputs:\n", "inputs:\n  - {type: file, name: app, paths: [x]}\n")
    _, go = load(tmp_path, AgentConfig, text)
    with pytest.raises(ConfigError, match="unique: app"):
        go()


def test_collector_token_hashes_must_be_hex(tmp_path):
    text = ("ingest:\n  tls: {cert: a, key: b, client_ca: c}\n  hmac_keys_file: k\n"
            "archive:\n  signing_key: k.key\nadmin:\n  token_sha256:\n    - 00000000\n")
    path, go = load(tmp_path, CollectorConfig, text)
    with pytest.raises(ConfigError) as err:
        go()
    assert str(err.value).startswith(f"{path}:8: admin.token_sha256.0: ")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(AgentConfig, tmp_path / "nope.yaml")
