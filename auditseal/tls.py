"""TLS contexts (stdlib ssl) and the identity an agent certificate carries.

An agent certificate names the agent and the tenants it may write for as SAN URIs::

    urn:auditseal:agent:<agent id>
    urn:auditseal:tenant:<tenant id>    (one per tenant)
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from functools import lru_cache

AGENT_URI = "urn:auditseal:agent:"
TENANT_URI = "urn:auditseal:tenant:"


@dataclass(frozen=True)
class PeerIdentity:
    agent_id: str
    tenants: frozenset[str]


def server_context(cert: str, key: str, client_ca: str) -> ssl.SSLContext:
    """Server side of mTLS: a client certificate signed by ``client_ca`` is required."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=client_ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(cert: str, key: str, server_ca: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=server_ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


@lru_cache(maxsize=4096)
def identity_from_der(der: bytes) -> PeerIdentity | None:
    """Agent id and tenants from a (already verified) certificate; None if it names no agent."""
    from cryptography import x509  # the collector's alone: 8 MiB the agent does not carry

    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    agents = [u[len(AGENT_URI) :] for u in uris if u.startswith(AGENT_URI)]
    tenants = frozenset(u[len(TENANT_URI) :] for u in uris if u.startswith(TENANT_URI))
    if len(agents) != 1 or not agents[0]:
        return None
    return PeerIdentity(agents[0], tenants)
