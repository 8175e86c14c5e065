"""A development PKI: a CA, agent client certificates and collector server certificates.

Files written under the PKI directory::

    ca.crt, ca.key                       the CA (EC P-256)
    agent-<id>.crt, agent-<id>.key       client cert with agent and tenant SAN URIs
    agent-<id>.hmac.yaml                 the agent's HMAC key (key_id, secret)
    hmac-keys.yaml                       every agent's keys, for the collector
    collector-<name>.crt, .key           server cert for the given host names and IPs

For production, issue certificates from your own CA with the same SAN URI scheme.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from auditseal.errors import Halt
from auditseal.tls import AGENT_URI, TENANT_URI


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_ca(directory: Path):
    try:
        cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
    except FileNotFoundError as exc:
        raise Halt(f"no CA in {directory}: run `auditseal pki init --dir {directory}` first") from exc
    return cert, key


def init_ca(directory: Path, name: str = "auditseal development CA", days: int = 3650) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "ca.crt").exists():
        raise Halt(f"{directory}/ca.crt exists; refusing to overwrite a CA")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(directory / "ca.key", _key_pem(key))
    (directory / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return directory / "ca.crt"


def _issue(
    directory: Path, stem: str, common_name: str, sans: list[x509.GeneralName], usage: x509.ObjectIdentifier, days: int
) -> tuple[Path, Path]:
    ca_cert, ca_key = _load_ca(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{stem}.key", directory / f"{stem}.crt"
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def issue_agent(directory: Path, agent_id: str, tenants: list[str], days: int = 825) -> dict[str, Path]:
    if not agent_id or any(c in agent_id for c in "/\\ \n"):
        raise Halt(f"bad agent id {agent_id!r}")
    if not tenants:
        raise Halt("an agent needs at least one tenant (--tenants t1,t2)")
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(AGENT_URI + agent_id)]
    sans += [x509.UniformResourceIdentifier(TENANT_URI + t) for t in tenants]
    cert, key = _issue(directory, f"agent-{agent_id}", agent_id, sans, ExtendedKeyUsageOID.CLIENT_AUTH, days)
    hmac_path = add_hmac_key(directory, agent_id)
    return {"cert": cert, "key": key, "hmac": hmac_path}


def add_hmac_key(directory: Path, agent_id: str) -> Path:
    """Make a new HMAC key for the agent; older keys stay valid in hmac-keys.yaml (rotation)."""
    registry_path = directory / "hmac-keys.yaml"
    registry = yaml.safe_load(registry_path.read_text()) if registry_path.exists() else {}
    registry = registry or {}
    keys = registry.setdefault(agent_id, {})
    key_id = f"k{len(keys) + 1}"
    secret = secrets.token_hex(32)
    keys[key_id] = secret
    _write_private(registry_path, yaml.safe_dump(registry, sort_keys=True).encode())
    agent_path = directory / f"agent-{agent_id}.hmac.yaml"
    _write_private(agent_path, yaml.safe_dump({"key_id": key_id, "secret": secret}).encode())
    return agent_path


def issue_collector(directory: Path, name: str, hosts: list[str], days: int = 825) -> dict[str, Path]:
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    cert, key = _issue(directory, f"collector-{name}", name, sans, ExtendedKeyUsageOID.SERVER_AUTH, days)
    return {"cert": cert, "key": key}
