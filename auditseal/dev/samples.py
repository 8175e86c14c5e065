"""Sample security events (ECS, one JSON object per line) for demos, tests and benchmarks."""

from __future__ import annotations

import datetime as dt

import orjson

USERS = ["alice", "bob", "carol", "dave", "erin"]
KINDS = [
    ("user_login", ["authentication"], "success"),
    ("user_login", ["authentication"], "failure"),
    ("user_logout", ["authentication"], "success"),
    ("mfa_challenge", ["authentication"], "success"),
    ("role_granted", ["iam"], "success"),
    ("api_key_created", ["iam", "configuration"], "success"),
    ("feature_flag_changed", ["configuration"], "success"),
    ("account_recovery_attempt", ["authentication"], "failure"),
    ("authorization_denied", ["iam"], "failure"),
]


def event(n: int, tenant: str | None = None, when: dt.datetime | None = None) -> dict:
    action, category, outcome = KINDS[n % len(KINDS)]
    when = when or dt.datetime.now(dt.timezone.utc)
    doc = {
        "@timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "event": {"action": action, "category": category, "outcome": outcome},
        "user": {"name": USERS[n % len(USERS)]},
        "source": {"ip": f"10.0.{(n // 250) % 250}.{n % 250 + 1}"},
        "message": f"sample event {n}",
        "labels": {"n": n},
    }
    if tenant:
        doc["organization"] = {"id": tenant}
    return doc


def lines(start: int, count: int, tenant: str | None = None, size: int | None = None) -> bytes:
    """Sample lines; with ``size``, each padded (its message) to about that many bytes."""
    if size is None:
        return b"".join(orjson.dumps(event(n, tenant)) + b"\n" for n in range(start, start + count))
    out = []
    for n in range(start, start + count):
        doc = event(n, tenant)
        short = len(orjson.dumps(doc)) + 1
        doc["message"] += " " + "x" * max(size - short - 1, 0)
        out.append(orjson.dumps(doc) + b"\n")
    return b"".join(out)
