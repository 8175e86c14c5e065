"""The admin API of a running collector, called like auditors and operators would: tokens made
and revoked with the CLI (no restart), tenant isolation tried through every endpoint the
OpenAPI description lists, every call journaled and sealed as an ``auditseal.query`` event,
exports, rate limits, and no secret in any answer or log."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import orjson
import pytest

from tests.harness import Pipeline, wait_for


def cli(*args):
    return subprocess.run([sys.executable, "-m", "auditseal.cli", *args], capture_output=True, text=True, timeout=60)


def make_token(pipeline, role, tenants=None) -> tuple[str, str]:
    args = ["token", "create", "--config", str(pipeline.setup.collector_config), "--role", role]
    if tenants:
        args += ["--tenants", tenants]
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    token = done.stdout.split()[1]
    return token, token.split("_")[1]


def call(pipeline, path, token, **params) -> tuple[int, bytes, dict]:
    query = urllib.parse.urlencode([(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])])
    request = urllib.request.Request(
        f"{pipeline.setup.admin_url}{path}" + (f"?{query}" if query else ""),
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    root = tmp_path_factory.mktemp("admin")
    pipeline = Pipeline(
        root,
        collector_overrides={
            "archive": {"segment_max_age": 0.5, "checkpoint_interval": 1.0},
            "admin": {"rate_limit": {"per_second": 200, "burst": 2000}},
        },
    )
    pipeline.start_collector()
    pipeline.start_agent()
    pipeline.write_events(0, 300)
    pipeline.write_events(300, 200, tenant="globex")
    pipeline.wait_indexed(500)
    tokens = {
        "admin": make_token(pipeline, "admin"),
        "acme": make_token(pipeline, "tenant-auditor:acme"),
        "acme-auditor": make_token(pipeline, "auditor", "acme"),
        "globex": make_token(pipeline, "tenant-auditor:globex"),
    }
    yield pipeline, tokens
    pipeline.stop()


def ids_of(pipeline, tenant) -> set[str]:
    return {d["event"]["id"] for d in pipeline.index_docs() if d["organization"]["id"] == tenant}


def spec_paths(pipeline) -> list[str]:
    status, body, _ = call(pipeline, "/v1/openapi.json", None)
    assert status == 200
    return [p for p in orjson.loads(body)["paths"] if p.startswith("/v1/") and p != "/v1/openapi.json"]


def test_a_tenant_auditor_gets_nothing_of_another_tenant_through_any_endpoint(running):
    pipeline, tokens = running
    acme_token = tokens["acme"][0]
    globex_ids = ids_of(pipeline, "globex")
    assert len(globex_ids) == 200
    globex_event = sorted(globex_ids)[0]
    admin = tokens["admin"][0]
    _, page, _ = call(pipeline, "/v1/events", admin, tenant="globex", limit="5")
    globex_cursor = orjson.loads(page)["next_cursor"]
    assert globex_cursor

    asked = f'\\"event_id\\":\\"{globex_event}\\"'.encode()

    def leaks(body: bytes) -> bool:
        # The id this caller asked a proof for is in its own calls' audit records (what was
        # asked, as asked); nowhere else may it, or anything of globex, appear.
        body = body.replace(asked, b"")
        return b"globex" in body or any(i.encode() in body for i in globex_ids)

    paths = spec_paths(pipeline)
    assert {"/v1/events", "/v1/events/count", "/v1/events/export", "/v1/proof", "/v1/alerts", "/v1/agents"} <= set(
        paths
    )
    tried = 0
    for token in (acme_token, tokens["acme-auditor"][0]):
        for path in paths:
            base = {"event_id": globex_event} if path == "/v1/proof" else {}
            attempts = [
                {"tenant": "globex"},
                {"tenant": "GLOBEX"},
                {"tenant": "globex "},
                {"tenant": ["acme", "globex"]},
                {"tenant": ["globex", "acme"]},
                {"tenant": "globex/../acme"},
                {"tenant": "acme", "cursor": globex_cursor},
                {"tenant": "acme", "organization.id": "globex"},
                {},
                {"tenant": "acme"},
            ]
            for extra in attempts:
                status, body, _ = call(pipeline, path, token, **base, **extra)
                tried += 1
                assert not leaks(body), (path, extra, status, body[:300])
                if extra.get("tenant") not in (None, "acme"):
                    assert status in (400, 403), (path, extra, status)
        # Every filter, every way, on the events endpoints: only acme comes back.
        for path in ("/v1/events", "/v1/events/export", "/v1/events/count"):
            for f in ("user", "target_user", "action", "host", "q", "source_ip", "outcome", "category"):
                value = {"source_ip": "10.0.1.51", "category": "authentication", "q": "sample"}.get(f, "bob")
                status, body, _ = call(pipeline, path, token, tenant="acme", **{f: value})
                tried += 1
                assert status == 200 and not leaks(body), (path, f, body[:200])
    assert tried > 150
    # The globex auditor reads its events; acme's do not appear.
    status, body, _ = call(pipeline, "/v1/events", tokens["globex"][0], limit="1000")
    found = {d["event"]["id"] for d in orjson.loads(body)["events"] if d["agent"]["id"] != "collector.local"}
    assert status == 200 and found == globex_ids
    # Admin-only endpoints refuse auditors; /v1/tenants names only their own.
    assert call(pipeline, "/v1/status", acme_token)[0] == 403
    assert orjson.loads(call(pipeline, "/v1/tenants", acme_token)[1]) == {"tenants": ["acme"]}
    assert set(orjson.loads(call(pipeline, "/v1/tenants", admin)[1])["tenants"]) >= {"acme", "globex"}


def test_proofs_come_from_the_index_and_are_scoped(running):
    pipeline, tokens = running
    acme_event = sorted(ids_of(pipeline, "acme"))[7]

    def proved():
        status, body, _ = call(pipeline, "/v1/proof", tokens["acme"][0], event_id=acme_event)
        return status == 200 and orjson.loads(body)

    bundle = wait_for(proved, 60, "the event sealed and provable")
    path = pipeline.root / "bundle.json"
    path.write_bytes(orjson.dumps(bundle))
    done = cli("prove", "--check", str(path), "--pubkey", str(pipeline.root / "keys" / "auditseal.local.vkey"))
    assert done.returncode == 0 and "verified" in done.stdout, done.stdout + done.stderr
    assert call(pipeline, "/v1/proof", tokens["globex"][0], event_id=acme_event, tenant="globex")[0] == 404
    assert call(pipeline, "/v1/proof", tokens["globex"][0], event_id=acme_event, tenant="acme")[0] == 403


def test_every_call_is_an_audit_event_in_the_tenant_it_read_and_is_sealed(running):
    pipeline, tokens = running
    token, ident = tokens["acme-auditor"]
    status, body, _ = call(pipeline, "/v1/events", token, tenant="acme", user="alice", action="user_login")
    assert status == 200
    returned = orjson.loads(body)["count"]
    call(pipeline, "/v1/events", token, tenant="globex")  # refused: recorded too, in the audit tenant

    # An earlier test's calls with this token are recorded too, so wait for these two by content.
    def recorded():
        docs = [d for d in pipeline.index_docs() if d["event"]["action"] == "auditseal.query"]
        mine = [d for d in docs if d["user"]["name"] == f"token:{ident}"]
        reads = [d for d in mine if json.loads(d["labels"]["query"]).get("user") == "alice"]
        # The refusal came after the read, so the collector's own sequence numbers it later.
        refusals = [
            d
            for d in mine
            if reads
            and d["http"]["response"]["status_code"] == 403
            and d["event"]["sequence"] > reads[0]["event"]["sequence"]
        ]
        return (reads, refusals) if reads and refusals else None

    reads, refusals = wait_for(recorded, 30, "the calls recorded")
    assert len(reads) == 1 and len(refusals) == 1
    read, refused = reads[0], refusals[0]
    assert read["organization"]["id"] == "acme" and read["event"]["outcome"] == "success"
    assert read["labels"]["results"] == returned and read["http"]["response"]["status_code"] == 200
    assert json.loads(read["labels"]["query"])["action"] == "user_login"
    assert refused["organization"]["id"] == "auditseal" and refused["event"]["outcome"] == "failure"
    # Sealed like any event: its inclusion proof verifies.
    status, body, _ = call(pipeline, "/v1/proof", tokens["admin"][0], tenant="acme", event_id=read["event"]["id"])
    if status != 200:
        body = wait_for(
            lambda: (
                (r := call(pipeline, "/v1/proof", tokens["admin"][0], tenant="acme", event_id=read["event"]["id"]))[0]
                == 200
                and r[1]
            ),
            60,
            "the audit event sealed",
        )
    assert orjson.loads(body)["event"] == orjson.dumps(read, option=orjson.OPT_SORT_KEYS).decode()


def test_exports_stream_every_match_as_ndjson_and_csv(running):
    pipeline, tokens = running
    token = tokens["globex"][0]
    status, body, headers = call(pipeline, "/v1/events/export", token, tenant="globex", action="user_login")
    assert status == 200 and headers["Content-Type"].startswith("application/x-ndjson")
    docs = [orjson.loads(line) for line in body.splitlines()]
    want = [
        d for d in pipeline.index_docs() if d["organization"]["id"] == "globex" and d["event"]["action"] == "user_login"
    ]
    assert sorted(d["event"]["id"] for d in docs) == sorted(d["event"]["id"] for d in want) and want
    stamps = [(d["@timestamp"], d["event"]["id"]) for d in docs]
    assert stamps == sorted(stamps)
    status, body, headers = call(pipeline, "/v1/events/export", token, format="csv", action="user_login")
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0][:4] == ["@timestamp", "event.id", "organization.id", "event.action"]
    assert sorted(r[1] for r in rows[1:]) == sorted(d["event"]["id"] for d in want)
    assert call(pipeline, "/v1/events/export", token, format="xml")[0] == 400
    assert call(pipeline, "/v1/events/export", token, limit="5")[0] == 400
    status, body, _ = call(pipeline, "/v1/events/count", token, action="user_login")
    assert orjson.loads(body)["count"] == len(want)


def test_operators_see_agents_checkpoints_and_status(running):
    pipeline, tokens = running
    status, body, _ = call(pipeline, "/v1/agents", tokens["acme"][0])
    agents = orjson.loads(body)["agents"]
    assert status == 200 and len(agents) == 1 and agents[0]["events"] >= 300, agents
    assert agents[0]["gaps"] == [] and agents[0]["last_sequence"] >= 300
    status, body, _ = call(pipeline, "/v1/checkpoints", tokens["acme"][0])
    reply = orjson.loads(body)
    assert status == 200 and [log["log"] for log in reply["logs"]] == ["acme/0"]
    assert reply["logs"][0]["size"] >= 300 and reply["verifier_keys"][0].startswith("auditseal.local+")
    status, body, _ = call(pipeline, "/v1/status", tokens["admin"][0])
    sinks = orjson.loads(body)["sinks"]
    assert status == 200 and {"index", "archive"} <= set(sinks), sinks
    assert all(isinstance(s["lag_bytes"], int) and s["lag_bytes"] >= 0 for s in sinks.values()), sinks


def test_a_revoked_token_is_refused_at_once_and_secrets_never_show(running):
    pipeline, tokens = running
    token, ident = make_token(pipeline, "tenant-auditor:acme")
    assert call(pipeline, "/v1/events", token)[0] == 200
    done = cli("token", "revoke", "--config", str(pipeline.setup.collector_config), ident)
    assert done.returncode == 0, done.stderr
    status, body, headers = call(pipeline, "/v1/events", token)
    assert status == 401 and headers.get("WWW-Authenticate") == "Bearer"
    assert token.encode() not in body and token.split("_", 2)[2].encode() not in body
    listed = cli("token", "list", "--config", str(pipeline.setup.collector_config), "--json")
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {e["id"]: bool(e["revoked"]) for e in entries}[ident] is True
    assert token not in listed.stdout
    for secret in [t for t, _ in tokens.values()] + [token, pipeline.setup.token]:
        assert secret not in pipeline.collector.output()
    for path in (pipeline.root / "collector").rglob("*"):
        try:  # the collector renames and removes files as it runs (temporary and WAL files)
            data = path.read_bytes() if path.is_file() and path.stat().st_size < 50_000_000 else b""
        except FileNotFoundError:
            continue
        assert token.split("_", 2)[2].encode() not in data, path
    assert call(pipeline, "/v1/events", "ast_" + "0" * 12 + "_" + "x" * 43)[0] == 401
    assert call(pipeline, "/v1/events", None)[0] == 401


def test_a_credential_past_its_rate_gets_429_and_others_go_on(tmp_path):
    pipeline = Pipeline(tmp_path, collector_overrides={"admin": {"rate_limit": {"per_second": 1, "burst": 5}}})
    try:
        pipeline.start_collector()
        fast, _ = make_token(pipeline, "tenant-auditor:acme")
        other, _ = make_token(pipeline, "tenant-auditor:globex")
        answers = [call(pipeline, "/v1/events/count", fast) for _ in range(12)]
        statuses = [a[0] for a in answers]
        assert statuses[:5] == [200] * 5 and statuses.count(429) >= 6, statuses
        limited = [a for a in answers if a[0] == 429][0]
        assert int(limited[2]["Retry-After"]) >= 1 and orjson.loads(limited[1])["reason"] == "rate_limited"
        assert call(pipeline, "/v1/events/count", other)[0] == 200
        # Refused credentials are limited per address, so guessing is slow too.
        guesses = [call(pipeline, "/v1/events", f"guess-{n}")[0] for n in range(10)]
        assert guesses[:5] == [401] * 5 and 429 in guesses
    finally:
        pipeline.stop()


def test_an_oidc_jwt_reads_its_tenant_only_and_its_calls_name_the_subject(tmp_path):
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    public = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**public, "kid": "idp-1", "use": "sig"}]}))
    issuer, audience = "https://idp.example.test/", "auditseal-admin"
    pipeline = Pipeline(
        tmp_path / "p",
        collector_overrides={
            "admin": {"oidc": {"issuer": issuer, "audience": audience, "jwks_file": str(tmp_path / "jwks.json")}}
        },
    )

    def token(**over) -> str:
        now = int(time.time())
        body = {"iss": issuer, "aud": audience, "sub": "carol@example.test", "iat": now, "exp": now + 300}
        body |= {"auditseal_roles": ["tenant-auditor:acme"], **over}
        return jwt.encode(body, key, algorithm="ES256", headers={"kid": "idp-1"})

    try:
        pipeline.start_collector()
        pipeline.start_agent()
        pipeline.write_events(0, 40)
        pipeline.write_events(40, 20, tenant="globex")
        pipeline.wait_indexed(60)
        used = token()
        status, body, _ = call(pipeline, "/v1/events", used, q="sample", limit="1000")
        docs = orjson.loads(body)["events"]
        assert status == 200 and len(docs) == 40 and {d["organization"]["id"] for d in docs} == {"acme"}
        assert call(pipeline, "/v1/events", token(), tenant="globex")[0] == 403
        assert call(pipeline, "/v1/events", token(aud="another-app"))[0] == 401
        assert call(pipeline, "/v1/events", token(exp=int(time.time()) - 3600))[0] == 401
        status, body, _ = call(pipeline, "/v1/whoami", token())
        assert orjson.loads(body) == {
            "name": "oidc:carol@example.test",
            "kind": "oidc",
            "roles": ["tenant-auditor:acme"],
            "tenants": ["acme"],
        }

        def recorded():
            return [
                d
                for d in pipeline.index_docs()
                if d["event"]["action"] == "auditseal.query" and d["user"]["name"] == "oidc:carol@example.test"
            ]

        calls = wait_for(lambda: len(recorded()) >= 2 and recorded(), 30, "the JWT's calls recorded")
        assert {d["organization"]["id"] for d in calls} == {"acme", "auditseal"}  # the read, the refusal
        assert all(d["labels"]["credential"] == "oidc" for d in calls)
        assert used not in pipeline.collector.output() and used.split(".")[2] not in pipeline.collector.output()
    finally:
        pipeline.stop()


def test_hostile_parameters_get_400_never_500(running):
    """Raw query strings as a scanner or a careless script sends them: invalid UTF-8, NUL,
    huge numbers, over-long values, forged cursors, odd times and addresses, repeated keys."""
    import http.client

    pipeline, tokens = running
    host, port = pipeline.setup.admin_url.split("//")[1].split(":")
    hostile = [
        "tenant=acme&user=%ff%fe",
        "tenant=acme&q=%00%00",
        "tenant=acme&limit=" + "9" * 400,
        "tenant=acme&limit=-1",
        "tenant=acme&limit=1e3",
        "tenant=acme&user=" + "a" * 5000,
        "tenant=acme&cursor=" + "A" * 3000,
        "tenant=acme&cursor=WzEsIngiLCJ5Il0",
        "tenant=acme&since=99999-01-01T00:00:00Z",
        "tenant=acme&since=2026-02-30T00:00:00Z",
        "tenant=acme&source_ip=999.1.1.1",
        "tenant=acme&source_ip=%5B%3A%3A1%5D",
        "tenant=acme&category=%C3%A9",
        "tenant=acme&q=%E2%80%AE%F0%9F%92%A5",
        "tenant=acme&order=sideways",
        "tenant=acme&user=a&user=b",
        "tenant=%ff",
        "tenant=" + "x" * 300,
    ]
    for path in ("/v1/events", "/v1/events/count", "/v1/events/export", "/v1/alerts", "/v1/proof"):
        for query in hostile:
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            conn.request("GET", f"{path}?{query}", headers={"Authorization": f"Bearer {tokens['acme'][0]}"})
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            assert resp.status in (200, 400, 403, 404), (path, query, resp.status, body[:200])
            if resp.status != 200:
                assert orjson.loads(body)["reason"] in ("bad_query", "forbidden", "not_found"), (path, query, body)
    assert "Traceback" not in pipeline.collector.output()
