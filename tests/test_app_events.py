"""The application event kinds: every example in docs/application-events.md is valid against
the schema and shipped with the categorisation its table states; wrong lines get precise
reasons; ``auditseal-agent check-events`` reports FILE:LINE and exits 0/1/2."""

import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from agent.app_events import problems, validator
from agent.normalise import Source, from_json_line

DOC = (Path(__file__).resolve().parent.parent / "docs" / "application-events.md").read_text()
EXAMPLES = re.findall(r"`(\w+)`\n\n```json\n(.*?)\n```", DOC)
TABLE = {
    row[0]: (row[1].split(", "), row[2].split(", "), row[3].split(" / "), re.findall(r"`([\w.]+)`", row[4]))
    for row in re.findall(r"^\| `(\w+)` \| ([\w, ]+) \| ([\w, ]+) \| ([\w /]+) \| (.*?) \|", DOC, re.M)
}
SCHEMA_KINDS = {
    rule["if"]["properties"]["event"]["properties"]["action"]["const"] for rule in validator().schema["allOf"]
}


def test_the_doc_the_table_and_the_schema_name_the_same_kinds():
    assert len(SCHEMA_KINDS) >= 19
    assert set(TABLE) == SCHEMA_KINDS == {action for action, _ in EXAMPLES}
    for kind in (
        "user_login",
        "mfa_verification",
        "authorization_denied",
        "role_granted",
        "api_key_rotated",
        "encryption_key_used",
        "feature_flag_changed",
        "account_recovery_requested",
    ):
        assert kind in TABLE


@pytest.mark.parametrize("action, line", EXAMPLES, ids=[a for a, _ in EXAMPLES])
def test_each_documented_example_is_valid_and_shipped_as_documented(action, line):
    assert problems(line.encode()) == ([], [])
    doc = from_json_line(line.encode(), Source("acme", "web-1"), "2026-11-28T12:00:00.000000Z")
    category, types, outcomes, required = TABLE[action]
    assert doc["event"]["action"] == action
    assert doc["event"]["category"] == category and doc["event"]["type"] == types
    assert doc["event"]["outcome"] in outcomes
    for path in required:
        node = doc
        for part in path.split("."):
            node = node[part]
        assert node not in (None, "", [])


LOGIN = {
    "event": {"action": "user_login", "category": ["authentication"], "type": ["start"], "outcome": "success"},
    "user": {"name": "alice"},
}


def variant(**changes):
    doc = orjson.loads(orjson.dumps(LOGIN))
    for path, value in changes.items():
        node = doc
        *parents, leaf = path.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return orjson.dumps(doc)


@pytest.mark.parametrize(
    "line, expected",
    [
        (variant(event__category=["iam"]), "event.category: must be ['authentication'] for this event.action"),
        (variant(event__type=["info"]), "event.type: must be ['start'] for this event.action"),
        (variant(event__outcome="unknown"), "event.outcome: must be one of ['success', 'failure']"),
        (variant(event__outcome=None), "'outcome' is a required property"),
        (variant(user=None), "'user' is a required property"),
        (variant(user__name=""), "user.name: '' should be non-empty"),
        (variant(source__port=70000), "source.port: 70000 is greater than the maximum of 65535"),
        (variant(**{"@timestamp": "yesterday"}), "not an ISO 8601 time"),
        (
            b'{"event":{"action":"role_granted","category":["iam"],"type":["user","change"],"outcome":"success"},'
            b'"user":{"name":"carol","target":{"name":"bob"}}}',
            "user.target: 'roles' is a required property",
        ),
        (
            b'{"event":{"action":"api_key_created","category":["iam"],"type":["creation"],"outcome":"success"},'
            b'"user":{"name":"carol"}}',
            "'labels' is a required property",
        ),
        (b'{"event":{"category":["iam"]}}', "event: 'action' is a required property"),
        (b"[1,2]", "not a JSON object"),
        (b"{oops", "not JSON"),
    ],
)
def test_wrong_lines_get_a_precise_reason(line, expected):
    errors, _ = problems(line)
    assert any(expected in e for e in errors), errors


def test_categories_must_be_ones_ecs_allows():
    errors, _ = problems(b'{"event":{"action":"invoice_paid","category":["billing"]}}')
    assert errors == ["event.category 'billing' is not an ECS category (ECS 8.11.0)"]
    errors, _ = problems(b'{"event":{"action":"x","category":"authentication","type":"creation"}}')
    assert errors == ["event.type 'creation' is not allowed with event.category authentication (ECS 8.11.0)"]


def test_other_actions_pass_with_only_common_shapes_checked():
    assert problems(b'{"event":{"action":"invoice_paid","category":"web"},"user":{"name":"x"}}') == ([], [])
    errors, _ = problems(b'{"event":{"action":"invoice_paid","category":"web","outcome":"maybe"}}')
    assert any("event.outcome" in e for e in errors)


def check_events(*paths):
    return subprocess.run(
        [sys.executable, "-m", "agent.main", "check-events", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_events_command(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(line for _, line in EXAMPLES) + "\n\n")
    done = check_events(good)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
    assert f"{len(EXAMPLES)} line(s), {len(EXAMPLES)} valid, 0 invalid" in done.stderr

    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(
        EXAMPLES[0][1].encode()
        + b"\n"
        + variant(event__outcome="unknown")
        + b"\nnot json\n"
        + b'{"event":{"action":"x","category":"web"},"n":1,"n":2}\n'
    )
    done = check_events(mixed)
    assert done.returncode == 1
    out = done.stdout.splitlines()
    assert out[0].startswith(f"{mixed}:2: event.outcome: must be one of") and out[1].startswith(f"{mixed}:3: not JSON")
    assert out[2] == f"{mixed}:4: warning: kept whole in event.original: duplicate key 'n'"
    assert "4 line(s), 2 valid, 2 invalid" in done.stderr

    done = check_events(tmp_path / "absent.jsonl")
    assert done.returncode == 2 and "No such file" in done.stderr and "Traceback" not in done.stderr
