"""``auditseal-agent test output`` against a running collector: it passes with the right
config, and fails with a precise reason for a wrong CA, a wrong HMAC key, an unknown key id,
a tenant not in the certificate and an unreachable collector; nothing it sends is stored."""

import subprocess
import sys

import yaml

from tests.harness import free_port


def check(pipeline, edit=None):
    config = yaml.safe_load(pipeline.setup.agent_config.read_text())
    if edit:
        edit(config)
    path = pipeline.root / "agent-test.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [sys.executable, "-m", "agent.main", "test", "output", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_output_check_passes_and_names_what_is_wrong(pipeline):
    pipeline.start_collector()
    url = yaml.safe_load(pipeline.setup.agent_config.read_text())["output"]["collectors"][0]

    done = check(pipeline)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        done.stdout.startswith(f"ok    {url}: ok: TLS both ways, agent 'demo-agent'") and "tenants acme" in done.stdout
    )

    other = pipeline.root / "other-ca"
    subprocess.run(
        [sys.executable, "-m", "auditseal.cli", "pki", "init", "--dir", str(other)], check=True, capture_output=True
    )
    done = check(pipeline, lambda c: c["output"]["tls"].update(ca=str(other / "ca.crt")))
    assert done.returncode == 1 and "FAIL" in done.stdout
    assert (
        "TLS: the collector's certificate is not trusted (self-signed certificate in certificate chain)" in done.stdout
    )

    secret_file = pipeline.root / "wrong.hmac.yaml"
    key = yaml.safe_load(open(yaml.safe_load(pipeline.setup.agent_config.read_text())["output"]["hmac_key_file"]))
    secret_file.write_text(yaml.safe_dump({"key_id": key["key_id"], "secret": "00" * 32}))
    done = check(pipeline, lambda c: c["output"].update(hmac_key_file=str(secret_file)))
    assert done.returncode == 1 and "HTTP 401 bad_mac" in done.stdout and "HMAC secret differs" in done.stdout
    assert key["secret"] not in done.stdout + done.stderr  # secrets never appear

    secret_file.write_text(yaml.safe_dump({"key_id": "k-unknown", "secret": "11" * 32}))
    done = check(pipeline, lambda c: c["output"].update(hmac_key_file=str(secret_file)))
    assert done.returncode == 1 and "HTTP 401 unknown_key" in done.stdout and "hmac_keys_file" in done.stdout

    done = check(pipeline, lambda c: c["inputs"][0].update(tenant="initech"))
    assert done.returncode == 1 and "HTTP 403 tenant_not_allowed" in done.stdout and "'initech'" in done.stdout

    done = check(pipeline, lambda c: c["output"].update(collectors=[f"https://127.0.0.1:{free_port()}"]))
    assert done.returncode == 1 and "cannot reach it" in done.stdout

    assert pipeline.index_docs() == []  # nothing the tests sent was stored
