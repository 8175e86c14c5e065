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


@pytest.mark.parametrize(
    "text, where, message",
    [
        (AGENT.replace("  id: web-1\n", "  id: web-1\n  idd: 2\n"), ":3: agent.idd", "unknown key"),
        (AGENT.replace("    name: app\n", "    name: app\n    pathz: []\n"), ":6: inputs.0.pathz", "unknown key"),
        (AGENT + "batch:\n  max_events: lots\n", ":12: batch.max_events", "valid integer"),
        (AGENT.replace("type: file", "type: kafka"), ":4: inputs.0", "does not match"),
        (AGENT + "agent:\n  id: x\n", ":11: agent", "duplicate key"),
        (AGENT + "batch: [\n", ":12: (syntax)", "expected"),
        (AGENT.replace("  collectors", "  colectors"), ":8: output.colectors", "unknown key"),
    ],
)
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
    text = (
        "ingest:\n  tls: {cert: a, key: b, client_ca: c}\n  hmac_keys_file: k\n"
        "archive:\n  signing_key: k.key\nadmin:\n  token_sha256:\n    - 00000000\n"
    )
    path, go = load(tmp_path, CollectorConfig, text)
    with pytest.raises(ConfigError) as err:
        go()
    assert str(err.value).startswith(f"{path}:8: admin.token_sha256.0: ")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(AgentConfig, tmp_path / "nope.yaml")


COLLECTOR_BASE = "ingest:\n  tls: {cert: a, key: b, client_ca: c}\n  hmac_keys_file: k\n"


def test_the_shipped_collector_config_loads():
    from pathlib import Path

    cfg = load_config(CollectorConfig, Path(__file__).resolve().parent.parent / "configs" / "collector.yaml")
    assert cfg.archive.type == "local" and cfg.index.type == "sqlite" and cfg.retention.archive_days == 2557


def test_s3_archive_elasticsearch_index_and_retention_rules_load(tmp_path):
    text = COLLECTOR_BASE + (
        "index:\n  type: elasticsearch\n  hosts: ['http://es:9200']\n"
        "archive:\n  type: s3\n  bucket: audit-bucket\n  signing_key: k.key\n"
        "retention:\n  rules:\n    - name: auth\n      categories: [authentication]\n      archive_days: 3653\n"
    )
    _, go = load(tmp_path, CollectorConfig, text)
    cfg = go()
    assert cfg.archive.type == "s3" and cfg.archive.segment_max_events == 100_000
    assert cfg.index.type == "elasticsearch" and cfg.index.bulk_max_events == 5000
    assert cfg.retention.partition({"organization": {"id": "a"}, "event": {"category": ["authentication"]}}) == "auth"
    assert cfg.retention.partition({"organization": {"id": "a"}, "event": {"category": "iam"}}) == "0"
    assert cfg.retention.archive_days_of("auth") == 3653 and cfg.retention.archive_days_of("0") == 2557


@pytest.mark.parametrize(
    "tail,where,message",
    [
        ("archive:\n  type: s3\n  signing_key: k.key\n", ":4: archive.bucket", "required"),
        (
            "archive:\n  type: s3\n  bucket: b-b-b\n  signing_key: k\n  colour: red\n",
            ":8: archive.colour",
            "unknown key",
        ),
        ("archive:\n  signing_key: k\nindex:\n  type: elasticsearch\n", ":6: index.hosts", "required"),
        (
            "archive:\n  signing_key: k\nretention:\n  rules:\n    - name: Bad Name\n",
            ":8: retention.rules.0.name",
            "pattern",
        ),
    ],
)
def test_storage_config_errors_name_file_line_and_key(tmp_path, tail, where, message):
    path, go = load(tmp_path, CollectorConfig, COLLECTOR_BASE + tail)
    with pytest.raises(ConfigError) as err:
        go()
    assert str(err.value).startswith(f"{path}{where}: "), str(err.value)
    assert message in str(err.value)
