import ssl

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from auditseal import tls
from auditseal.dev import pki
from auditseal.errors import Halt


def test_agent_certificate_carries_agent_and_tenants(tmp_path):
    pki.init_ca(tmp_path)
    paths = pki.issue_agent(tmp_path, "web-1", ["acme", "globex"])
    cert = x509.load_pem_x509_certificate(paths["cert"].read_bytes())
    identity = tls.identity_from_der(cert.public_bytes(Encoding.DER))
    assert identity == tls.PeerIdentity("web-1", frozenset({"acme", "globex"}))
    assert paths["key"].stat().st_mode & 0o077 == 0  # private key readable by owner only
    key = yaml.safe_load(paths["hmac"].read_text())
    assert key["key_id"] == "k1" and len(bytes.fromhex(key["secret"])) == 32
    # Rotation: a second key; the collector's registry keeps both.
    pki.add_hmac_key(tmp_path, "web-1")
    assert set(yaml.safe_load((tmp_path / "hmac-keys.yaml").read_text())["web-1"]) == {"k1", "k2"}


def test_collector_certificate_names_no_agent_and_contexts_load(tmp_path):
    pki.init_ca(tmp_path)
    server = pki.issue_collector(tmp_path, "c1", ["localhost", "127.0.0.1"])
    agent = pki.issue_agent(tmp_path, "web-1", ["acme"])
    ctx = tls.server_context(str(server["cert"]), str(server["key"]), str(tmp_path / "ca.crt"))
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    tls.client_context(str(agent["cert"]), str(agent["key"]), str(tmp_path / "ca.crt"))
    cert = x509.load_pem_x509_certificate(server["cert"].read_bytes())
    assert tls.identity_from_der(cert.public_bytes(Encoding.DER)) is None


def test_pki_refuses_to_overwrite_a_ca_or_issue_without_one(tmp_path):
    with pytest.raises(Halt, match="no CA"):
        pki.issue_agent(tmp_path, "web-1", ["acme"])
    pki.init_ca(tmp_path)
    with pytest.raises(Halt, match="refusing to overwrite"):
        pki.init_ca(tmp_path)
    with pytest.raises(Halt, match="at least one tenant"):
        pki.issue_agent(tmp_path, "web-1", [])
