"""Every config problem is `file:line: key: reason` with exit 2 — from check-config and from
run — and never a traceback; the README's "Running it for real" commands work with the
example configs as shipped."""

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def program(name: str, command: str, config: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"{name}.main", command, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def edit(config: Path, old: str, new: str) -> int:
    """Replace the first line containing ``old`` (a key) with ``new``; returns its line number."""
    lines = config.read_text().splitlines()
    for number, line in enumerate(lines):
        if old in line:
            indent = line[: len(line) - len(line.lstrip())]
            lines[number] = indent + new
            config.write_text("\n".join(lines) + "\n")
            return number + 1
    raise AssertionError(f"{old!r} not in {config}")


def assert_refused(done: subprocess.CompletedProcess, config: Path, line: int | None, key: str, reason: str):
    assert done.returncode == 2, done.stdout + done.stderr
    where = f"{config}:{line}" if line else f"{config}"
    assert f"{where}: {key}: " in done.stderr and reason in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_missing_or_garbage_certificate_or_ca_is_named(pipeline, tmp_path):
    config = pipeline.setup.collector_config
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    cases = [
        ("cert:", f"cert: {tmp_path / 'missing.crt'}", "ingest.tls.cert", "No such file"),
        ("cert:", f"cert: {garbage}", "ingest.tls.cert", "not a PEM certificate"),
        ("client_ca:", f"client_ca: {garbage}", "ingest.tls.client_ca", "not a PEM CA"),
        ("hmac_keys_file:", f"hmac_keys_file: {garbage}", "ingest.hmac_keys_file", "cannot read HMAC keys"),
        ("signing_key:", f"signing_key: {garbage}", "archive.signing_key", "not a signing key"),
        ("encryption_key:", f"encryption_key: {garbage}", "archive.encryption_key", "cannot read the archive key"),
    ]
    original = config.read_text()
    for old, new, key, reason in cases:
        config.write_text(original)
        line = edit(config, old, new)
        for command in ("check-config", "run"):
            assert_refused(program("collector", command, config), config, line, key, reason)
    config.write_text(original)
    agent = pipeline.setup.agent_config
    line = edit(agent, "ca:", f"ca: {tmp_path / 'nope.crt'}")
    for command in ("check-config", "run"):
        assert_refused(program("agent", command, agent), agent, line, "output.tls.ca", "No such file")


def test_unusable_directories_and_ports_are_named(pipeline, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    config = pipeline.setup.collector_config
    original = config.read_text()
    line = edit(config, "data_dir:", f"data_dir: {blocker / 'sub'}")
    assert_refused(
        program("collector", "check-config", config), config, line, "collector.data_dir", "not a writable directory"
    )
    config.write_text(original)
    line = edit(config, "listen:", "listen: 127.0.0.1:99999")
    assert_refused(program("collector", "run", config), config, line, "ingest.listen", "port from 1 to 65535")
    agent = pipeline.setup.agent_config
    line = edit(agent, "state_dir:", f"state_dir: {blocker}")
    assert_refused(program("agent", "run", agent), agent, line, "agent.state_dir", "not a writable directory")


YAML_ODDITIES = {
    "complex key": ("? [a, b]\n: 1\n", 1, "(top level)", "keys must be plain strings"),
    "python tag": ("collector: !!python/name:os.system\n", 1, "collector", "is not allowed"),
    "python object": ("collector: !!python/object/apply:os.system [ls]\n", 1, "collector", "is not allowed"),
    "custom tag": ("collector: !secret x\n", 1, "collector", "is not allowed"),
    "not a mapping": ("- a\n- b\n", 1, "(top level)", "must be a mapping"),
    "syntax": ("collector: [unclosed\n", 2, "(syntax)", ""),
}


@pytest.mark.parametrize("case", sorted(YAML_ODDITIES))
def test_yaml_oddities_are_config_errors(tmp_path, case):
    text, line, key, reason = YAML_ODDITIES[case]
    config = tmp_path / "c.yaml"
    config.write_text(text)
    for name in ("collector", "agent"):
        done = program(name, "check-config", config)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert re.search(rf"{re.escape(str(config))}:{line}: {re.escape(key)}: .*{re.escape(reason)}", done.stderr), (
            done.stderr
        )


def test_non_utf8_and_alias_bombs_are_refused_quickly(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_bytes(b"collector:\n  id: caf\xe9\n")
    done = program("collector", "check-config", config)
    assert_refused(done, config, 2, "(file)", "not UTF-8")
    # A "billion laughs": 10^9 nodes after alias expansion, a few hundred bytes of YAML.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    config.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    done = program("collector", "check-config", config, timeout=30)
    assert time.monotonic() - started < 10
    assert done.returncode == 2 and "alias expansion" in done.stderr and "Traceback" not in done.stderr


def test_a_blank_token_list_is_warned_about(pipeline):
    config = pipeline.setup.collector_config
    text = config.read_text()
    text = re.sub(r"token_sha256:\n(\s+- .*\n)+", "token_sha256: []\n", text)
    config.write_text(text)
    done = program("collector", "check-config", config)
    assert done.returncode == 0, done.stderr
    assert ":16: admin.token_sha256: no admin token or OIDC configured: only tokens made with" in done.stderr


def test_the_readmes_running_it_for_real_commands_with_the_example_configs(tmp_path):
    """The README's commands with /etc/auditseal moved under tmp_path, then check-config on
    configs/*.yaml with the same move: the file names agree."""
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Running it for real", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    etc = tmp_path / "etc"
    moved = {
        "/etc/auditseal": str(etc),
        "/var/lib/auditseal": str(tmp_path / "var"),
        "configs/": str(tmp_path / "configs") + "/",
    }
    (tmp_path / "configs").mkdir()
    for name in ("collector.yaml", "agent.yaml"):
        text = (REPO / "configs" / name).read_text()
        for old, new in moved.items():
            text = text.replace(old, new)
        (tmp_path / "configs" / name).write_text(text)
    ran = 0
    for line in block.splitlines():
        command = line.split("#", 1)[0].strip()
        if not command:
            continue
        for old, new in moved.items():
            command = command.replace(old, new)
        words = command.split()
        done = subprocess.run([str(BIN / words[0]), *words[1:]], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
        assert "Traceback" not in done.stderr
        ran += 1
    assert ran >= 6
    assert (etc / "pki" / "collector-collector-1.crt").exists()


def test_alerting_problems_are_named_in_the_config_and_in_the_rule_files(pipeline, tmp_path):
    config = pipeline.setup.collector_config
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "mine.yaml").write_text(
        "rules:\n  - name: ok-rule\n    kind: match\n    where: {event.action: x}\n"
        "  - name: noisy\n    kind: match\n    channels: [pager]\n"
    )
    secret = tmp_path / "hook-secret"
    secret.write_text("not-base64-at-all!\n")
    original = config.read_text()

    def with_alerting(block: str) -> None:
        config.write_text(original + "alerting:\n" + block)

    base_line = len(original.splitlines()) + 1  # the "alerting:" line
    with_alerting(
        f"  rules_dir: {rules}\n  channels:\n    hook:\n      type: webhook\n      url: http://127.0.0.1:9/\n"
        f"      secret_file: {tmp_path / 'missing'}\n"
    )
    for command in ("check-config", "run"):
        assert_refused(
            program("collector", command, config),
            config,
            base_line + 6,
            "alerting.channels.hook.secret_file",
            "No such file",
        )
    with_alerting(
        f"  rules_dir: {rules}\n  channels:\n    hook:\n      type: webhook\n      url: http://127.0.0.1:9/\n"
        f"      secret_file: {secret}\n"
    )
    done = program("collector", "check-config", config)
    assert_refused(done, config, base_line + 6, "alerting.channels.hook.secret_file", "not whsec_<base64>")
    assert "not-base64-at-all" not in done.stderr  # a secret, even a broken one, is never shown
    secret.write_text("whsec_" + "A" * 44 + "\n")
    assert_refused(
        program("collector", "check-config", config),
        rules / "mine.yaml",
        7,
        "rules.1.channels",
        "unknown channel 'pager'",
    )
    with_alerting("  time_zones: {acme: Mars/Olympus}\n")
    assert_refused(
        program("collector", "check-config", config),
        config,
        base_line + 1,
        "alerting.time_zones.acme",
        "IANA time zone",
    )
    with_alerting("  channels:\n    x:\n      type: carrier-pigeon\n")
    assert_refused(
        program("collector", "check-config", config), config, base_line + 2, "alerting.channels.x", "'webhook', 'slack'"
    )
    (rules / "mine.yaml").write_text("rules:\n  - name: ok-rule\n    kind: match\n    channels: [hook]\n")
    with_alerting(
        f"  rules_dir: {rules}\n  channels:\n    hook:\n      type: webhook\n      url: http://127.0.0.1:9/\n"
        f"      secret_file: {secret}\n"
    )
    done = program("collector", "check-config", config)
    assert done.returncode == 0 and "(3 rules, 1 alert channels)" in done.stdout, done.stdout + done.stderr
