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


def test_environment_variables_fill_values_and_an_unset_one_is_an_error_at_its_line(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDITSEAL_TEST_HOST", "web-42")
    monkeypatch.setenv("AUDITSEAL_TEST_EMPTY", "")
    monkeypatch.delenv("AUDITSEAL_TEST_UNSET", raising=False)
    text = AGENT.replace("id: web-1", "id: ${AUDITSEAL_TEST_HOST}").replace(
        '["https://c:9443"]', '["https://${AUDITSEAL_TEST_UNSET:-c}:${AUDITSEAL_TEST_EMPTY:-9443}/$${x}"]'
    )
    cfg = load(tmp_path, AgentConfig, text)[1]()
    assert cfg.agent.id == "web-42" and cfg.output.collectors == ["https://c:9443/${x}"]
    path, go = load(tmp_path, AgentConfig, AGENT.replace("paths: [", 'paths: ["${AUDITSEAL_TEST_UNSET}", '))
    with pytest.raises(ConfigError) as exc:
        go()
    assert (
        str(exc.value) == f"{path}:6: inputs.0.paths.0: environment variable AUDITSEAL_TEST_UNSET is not set "
        "(or write ${VAR:-default})"
    )


def test_yaml_merge_keys_merge_and_a_bad_one_is_a_clear_error(tmp_path):
    text = AGENT.replace(
        "inputs:\n  - type: file\n    name: app\n",
        "x-common: &common\n  type: file\n  tenant: acme\n  name: shadowed\ninputs:\n  - <<: *common\n    name: app\n",
    )
    text = text.replace("agent:\n  id: web-1\n", "agent:\n  id: web-1\n")
    data_path, go = load(tmp_path, AgentConfig, text)
    with pytest.raises(ConfigError) as exc:  # x-common itself is no agent key
        go()
    assert "x-common: unknown key" in str(exc.value)
    from auditseal.config import parse_yaml

    data, _ = parse_yaml(text, "f")
    assert data["inputs"][0] == {"type": "file", "tenant": "acme", "name": "app", "paths": ["/var/log/app/*.jsonl"]}
    path, go = load(tmp_path, AgentConfig, AGENT.replace("  id: web-1\n", "  <<: [1, 2]\n  id: web-1\n"))
    with pytest.raises(ConfigError) as exc:
        go()
    assert str(exc.value).startswith(f"{path}:2: agent.<<: a merge key (<<) takes a mapping or a list of mappings")


@pytest.mark.parametrize(
    "module, program",
    [("agent.main", "auditseal-agent"), ("collector.main", "auditseal-collector"), ("auditseal.cli", "auditseal")],
)
def test_every_command_says_its_version(module, program):
    import subprocess
    import sys
    from importlib.metadata import version

    done = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith(f"{program} {version('auditseal')} (Python 3."), done


def test_drop_in_input_files_add_inputs_and_their_errors_name_their_own_file(tmp_path):
    from agent.config import load as load_agent

    (tmp_path / "agent.d").mkdir()
    (tmp_path / "agent.d" / "10-nginx.yaml").write_text(
        "inputs:\n  - type: file\n    name: nginx\n    paths: [/var/log/nginx/audit.jsonl]\n    tenant: acme\n"
    )
    (tmp_path / "agent.d" / "20-auth.yaml").write_text(
        "inputs:\n  - {type: file, name: auth, paths: [/var/log/auth.log], format: auth, tenant: acme}\n"
    )
    (tmp_path / "agent.d" / "notes.txt").write_text("not matched by the glob")
    main = tmp_path / "agent.yaml"
    main.write_text(AGENT.replace("agent:\n", "include_inputs: agent.d/*.yaml\nagent:\n", 1))
    cfg = load_agent(main)
    assert [i.name for i in cfg.inputs] == ["app", "nginx", "auth"]
    bad = tmp_path / "agent.d" / "30-bad.yaml"
    bad.write_text("inputs:\n  - type: file\n    name: x\n    pathz: [/x]\n")
    with pytest.raises(ConfigError) as exc:
        load_agent(main)
    assert str(exc.value).startswith(f"{bad}:4: inputs.0.pathz: unknown key")
    bad.write_text("inputs:\n  - {type: file, name: nginx, paths: [/y]}\n")
    with pytest.raises(ConfigError) as exc:
        load_agent(main)
    assert "input names must be unique: nginx" in str(exc.value)


def test_a_config_dir_merges_drop_ins_and_refuses_a_key_set_twice(tmp_path):
    from agent.config import load as load_agent

    main = tmp_path / "agent.yaml"
    main.write_text(AGENT)
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "10-batch.yaml").write_text("batch:\n  max_events: 100\nlog_level: debug\n")
    (conf_d / "20-inputs.yml").write_text("inputs:\n  - {type: file, name: auth, paths: [/var/log/auth.log]}\n")
    (conf_d / "README").write_text("not yaml: ignored")
    cfg = load_agent(main, conf_d)
    assert [i.name for i in cfg.inputs] == ["app", "auth"]
    assert cfg.batch.max_events == 100 and cfg.log_level == "debug" and cfg.agent.id == "web-1"
    # An error in a drop-in names the drop-in and its line, also inside an appended list.
    (conf_d / "20-inputs.yml").write_text("inputs:\n  - type: file\n    name: auth\n    pathz: [/x]\n")
    with pytest.raises(ConfigError) as exc:
        load_agent(main, conf_d)
    assert str(exc.value).startswith(f"{conf_d / '20-inputs.yml'}:4: inputs.1.pathz: unknown key")
    (conf_d / "20-inputs.yml").unlink()
    # No silent override: a scalar set in two files is refused, naming both places.
    (conf_d / "30-id.yaml").write_text("agent:\n  id: web-2\n")
    with pytest.raises(ConfigError) as exc:
        load_agent(main, conf_d)
    assert str(exc.value) == f"{conf_d / '30-id.yaml'}:2: agent.id: already set in {main}:2"
    (conf_d / "30-id.yaml").write_text("batch: {max_events: 7}\n")
    with pytest.raises(ConfigError) as exc:
        load_agent(main, conf_d)
    assert str(exc.value) == f"{conf_d / '30-id.yaml'}:1: batch.max_events: already set in {conf_d / '10-batch.yaml'}:2"
    with pytest.raises(ConfigError) as exc:
        load_agent(main, tmp_path / "missing.d")
    assert str(exc.value) == f"{tmp_path / 'missing.d'}: (config dir): not a directory"


def test_the_collector_check_config_takes_a_config_dir(tmp_path):
    import subprocess
    import sys

    import yaml

    from auditseal.dev import devsetup

    config = devsetup.setup(tmp_path / "dev").collector_config
    conf_d = tmp_path / "collector.d"
    conf_d.mkdir()
    (tmp_path / "hook.secret").write_text("whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" + "\n")
    (conf_d / "alerting.yaml").write_text(
        "alerting:\n  channels:\n    ops:\n      type: webhook\n      url: https://hooks.example/x\n"
        f"      secret_file: {tmp_path / 'hook.secret'}\n"
    )
    (conf_d / "retention.yaml").write_text(
        "retention:\n  rules:\n    - {name: auth, categories: [authentication], archive_days: 3653}\n"
    )
    argv = [sys.executable, "-m", "collector.main", "check-config", "-c", str(config), "--config-dir", str(conf_d)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "1 alert channels" in done.stdout, done.stdout + done.stderr
    (conf_d / "retention.yaml").write_text("retention:\n  rules:\n    - {name: auth, archive_dayz: 1}\n")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        f"{conf_d / 'retention.yaml'}:3: retention.rules" in done.stderr and "archive_dayz: unknown key" in done.stderr
    )
    assert yaml.safe_load(config.read_text())  # the main file untouched
