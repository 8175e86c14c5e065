"""OIDC bearer JWTs: what is refused and why, against a JWKS file and a JWKS served over HTTP
(a real aiohttp server), including a key rotated at the identity provider."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pydantic import ValidationError

from collector.admin import oidc
from collector.admin.oidc import OidcVerifier, Refused
from collector.config import OidcConfig

ISS, AUD = "https://idp.example.test/", "auditseal"


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk_of(private, kid: str, alg: str | None = None) -> dict:
    public = private.public_key()
    if isinstance(private, rsa.RSAPrivateKey):
        data = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(private, ec.EllipticCurvePrivateKey):
        data = jwt.algorithms.ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        data = jwt.algorithms.OKPAlgorithm.to_jwk(public, as_dict=True)
    data.update(kid=kid, use="sig")
    if alg:
        data["alg"] = alg
    return data


def claims(**over) -> dict:
    now = int(time.time())
    base = {"iss": ISS, "aud": AUD, "sub": "alice@example.test", "iat": now, "exp": now + 300}
    base["auditseal_roles"] = ["tenant-auditor:acme"]
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def sign(private, kid, alg="RS256", **over) -> str:
    return jwt.encode(claims(**over), private, algorithm=alg, headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def hand_made(header: dict, body: dict, signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}.{b64(signature)}"


@pytest.fixture
def keys():
    return {"rsa": rsa_key(), "ec": ec.generate_private_key(ec.SECP256R1()), "ed": ed25519.Ed25519PrivateKey.generate()}


def verifier_for(tmp_path, jwks: list[dict], name: str = "jwks.json", **cfg) -> OidcVerifier:
    path = tmp_path / name
    path.write_text(json.dumps({"keys": jwks}))
    return OidcVerifier(OidcConfig(issuer=ISS, audience=AUD, jwks_file=path, leeway=5, **cfg))


def check(verifier, token):
    return asyncio.run(verifier.principal(token))


def refused(verifier, token) -> str:
    with pytest.raises(Refused) as no:
        check(verifier, token)
    return str(no.value)


def test_good_tokens_of_each_algorithm_give_their_roles(tmp_path, keys):
    v = verifier_for(tmp_path, [jwk_of(keys["rsa"], "r1"), jwk_of(keys["ec"], "e1"), jwk_of(keys["ed"], "d1")])
    p = check(v, sign(keys["rsa"], "r1"))
    assert p.name == "oidc:alice@example.test" and p.tenants == {"acme"} and p.kind == "oidc"
    assert check(v, sign(keys["ec"], "e1", "ES256")).tenants == {"acme"}
    auditor = check(v, sign(keys["ed"], "d1", "EdDSA", auditseal_roles=["auditor"], auditseal_tenants=["a", "b"]))
    assert auditor.tenants == {"a", "b"}
    assert check(v, sign(keys["rsa"], "r1", auditseal_roles="admin")).is_admin


def test_time_issuer_audience_and_claims_are_enforced(tmp_path, keys):
    v = verifier_for(tmp_path, [jwk_of(keys["rsa"], "r1")])
    now = int(time.time())
    k = keys["rsa"]
    assert refused(v, sign(k, "r1", exp=now - 60)) == "the token has expired"
    assert refused(v, sign(k, "r1", nbf=now + 3600)) == "the token is not valid yet"
    assert refused(v, sign(k, "r1", iat=now + 3600)) == "the token is not valid yet"
    assert refused(v, sign(k, "r1", iss="https://evil.example/")) == "wrong issuer"
    assert refused(v, sign(k, "r1", aud="someone-else")) == "wrong audience"
    assert refused(v, sign(k, "r1", exp=None)) == "claim exp is required"
    assert refused(v, sign(k, "r1", sub=None)) == "claim sub is required"
    assert "claim auditseal_roles" in refused(v, sign(k, "r1", auditseal_roles=["root"]))
    assert "must be lists" in refused(v, sign(k, "r1", auditseal_roles=None))
    assert "needs the tenants" in refused(v, sign(k, "r1", auditseal_roles=["auditor"]))
    assert check(v, sign(k, "r1", exp=now - 2)) is not None  # within the leeway


def test_forged_tokens_are_refused(tmp_path, keys):
    v = verifier_for(tmp_path, [jwk_of(keys["rsa"], "r1"), jwk_of(keys["ec"], "e1")])
    body = claims()
    assert "algorithm 'none'" in refused(v, hand_made({"alg": "none", "kid": "r1"}, body))
    assert "algorithm 'none'" in refused(v, hand_made({"alg": "none"}, body))
    # The classic confusion: HS256 with the RSA public key (PEM) as the HMAC secret.
    pem = (
        keys["rsa"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    head = {"alg": "HS256", "kid": "r1", "typ": "JWT"}
    signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(body).encode())}".encode()
    forged = signing_input.decode() + "." + b64(hmac.new(pem, signing_input, hashlib.sha256).digest())
    assert "algorithm 'HS256'" in refused(v, forged)
    # An allowed algorithm, but a key of another kind (an EC key named for RS256).
    assert "not for the token's algorithm" in refused(v, hand_made({"alg": "RS256", "kid": "e1"}, body, b"x" * 256))
    # A P-256 key cannot verify ES384 even if the signature were made with a P-384 key.
    assert "not for the token's algorithm" in refused(
        verifier_for(tmp_path, [jwk_of(keys["ec"], "e1")], "ec.json", algorithms=["ES256", "ES384"]),
        sign(ec.generate_private_key(ec.SECP384R1()), "e1", "ES384"),
    )
    good = sign(keys["rsa"], "r1")
    head_b, body_b, sig_b = good.split(".")
    changed = json.loads(base64.urlsafe_b64decode(body_b + "=="))
    changed["auditseal_roles"] = ["admin"]
    assert refused(v, f"{head_b}.{b64(json.dumps(changed).encode())}.{sig_b}") == "bad signature or malformed token"
    assert refused(v, sign(rsa_key(), "r1")) == "bad signature or malformed token"  # another key, same kid
    assert refused(v, "a.b.c") == "not a well-formed JWT"


def test_an_unknown_key_id_is_refused_and_a_rotated_jwks_file_is_picked_up(tmp_path, keys):
    old, new = keys["rsa"], rsa_key()
    v = verifier_for(tmp_path, [jwk_of(old, "2026-11")])
    assert refused(v, sign(new, "2026-12")) == "the token's key id is not in the JWKS"
    assert check(v, sign(old, "2026-11")) is not None
    time.sleep(0.01)
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk_of(new, "2026-12")]}))
    assert check(v, sign(new, "2026-12")).name == "oidc:alice@example.test"
    assert refused(v, sign(old, "2026-11")) == "the token's key id is not in the JWKS"
    # A damaged file keeps the keys last read (the identity provider's mistake locks nobody out).
    (tmp_path / "jwks.json").write_text("{not json")
    assert check(v, sign(new, "2026-12")) is not None


def test_a_jwks_url_is_fetched_again_when_a_token_names_a_new_key(tmp_path, keys, monkeypatch):
    monkeypatch.setattr(oidc, "MIN_REFETCH", 0.0)
    old, new = keys["rsa"], rsa_key()
    served = {"keys": [jwk_of(old, "k1")]}
    fetches = []

    async def jwks(_request):
        fetches.append(1)
        return web.json_response(served)

    async def go():
        app = web.Application()
        app.router.add_get("/.well-known/jwks.json", jwks)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        cfg = OidcConfig(issuer=ISS, audience=AUD, jwks_url=f"http://127.0.0.1:{port}/.well-known/jwks.json")
        v = OidcVerifier(cfg)
        try:
            assert (await v.principal(sign(old, "k1"))).tenants == {"acme"}
            assert len(fetches) == 1
            await v.principal(sign(old, "k1"))
            assert len(fetches) == 1  # cached
            served["keys"] = [jwk_of(old, "k1"), jwk_of(new, "k2")]  # rotation at the provider
            assert (await v.principal(sign(new, "k2"))).name == "oidc:alice@example.test"
            assert len(fetches) == 2
            served["keys"] = [jwk_of(new, "k2")]
            with pytest.raises(Refused):
                await v.principal(sign(rsa_key(), "k3"))
        finally:
            await runner.cleanup()

    asyncio.run(go())


@pytest.mark.parametrize("algs", [["HS256"], ["none"], ["RS256", "HS512"], []])
def test_the_config_allows_asymmetric_algorithms_only(tmp_path, algs):
    with pytest.raises(ValidationError):
        OidcConfig(issuer=ISS, audience=AUD, jwks_file=tmp_path / "j.json", algorithms=algs)


def test_the_config_needs_exactly_one_jwks_source(tmp_path):
    with pytest.raises(ValidationError):
        OidcConfig(issuer=ISS, audience=AUD)
    with pytest.raises(ValidationError):
        OidcConfig(issuer=ISS, audience=AUD, jwks_file=tmp_path / "j", jwks_url="https://x/j")
