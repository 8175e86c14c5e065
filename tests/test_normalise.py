import pytest

from agent.normalise import Source, from_json_line, stamp
from auditseal import __version__
from auditseal.errors import Rejected

SRC = Source("acme", "host-1")
NOW = "2026-11-28T10:00:00.000000Z"


def test_dotted_line_becomes_a_full_ecs_event():
    doc = from_json_line(
        b'{"event.action":"user_login","event.category":"authentication",'
        b'"user.name":"alice","@timestamp":"2026-11-28T09:59:59+00:00"}',
        SRC,
        NOW,
    )
    assert doc == {
        "@timestamp": "2026-11-28T09:59:59.000000Z",
        "event": {"action": "user_login", "category": ["authentication"], "outcome": "unknown", "created": NOW},
        "user": {"name": "alice"},
        "organization": {"id": "acme"},
        "host": {"name": "host-1"},
    }
    stamp(doc, "web-1", 7, "id7")
    assert doc["agent"] == {"id": "web-1", "type": "auditseal", "version": __version__}
    assert doc["event"]["sequence"] == 7 and doc["event"]["id"] == "id7" and doc["event"]["kind"] == "event"
    assert doc["ecs"] == {"version": "8.11.0"}


def test_line_cannot_set_agent_owned_fields_and_keeps_its_tenant():
    doc = from_json_line(
        b'{"event":{"action":"a","category":["iam"],"sequence":99,"id":"forged",'
        b'"outcome":"failure"},"agent":{"id":"other"},"organization":{"id":"globex"}}',
        SRC,
        NOW,
    )
    assert "sequence" not in doc["event"] and "id" not in doc["event"] and "agent" not in doc
    assert doc["organization"]["id"] == "globex" and doc["event"]["outcome"] == "failure"
    assert doc["@timestamp"] == NOW


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"not json", "bad_json"),
        (b"[1,2]", "bad_json"),
        (b'{"event":{"category":["iam"]}}', "missing_field"),
        (b'{"event":{"action":"a"}}', "missing_field"),
        (b'{"event":{"action":"a","category":"iam"},"@timestamp":"later"}', "bad_timestamp"),
        (b'{"event":{"action":"a","category":"iam"},"organization":{"id":5}}', "bad_field"),
    ],
)
def test_bad_lines_are_rejected_with_a_reason(line, reason):
    with pytest.raises(Rejected) as bad:
        from_json_line(line, SRC, NOW)
    assert bad.value.reason == reason


def test_no_tenant_anywhere_is_rejected():
    with pytest.raises(Rejected, match="organization.id"):
        from_json_line(b'{"event":{"action":"a","category":"iam"}}', Source(None, "h"), NOW)


def test_a_field_map_moves_application_fields_to_ecs_names():
    line = b'{"act":"login","cat":"authentication","usr":{"login":"alice"},"ip":"10.0.0.1"}'
    doc = from_json_line(
        line, SRC, NOW, {"act": "event.action", "cat": "event.category", "usr.login": "user.name", "ip": "source.ip"}
    )
    assert doc["event"]["action"] == "login" and doc["event"]["category"] == ["authentication"]
    assert doc["user"] == {"name": "alice"} and doc["source"] == {"ip": "10.0.0.1"}
    assert "act" not in doc and "ip" not in doc


LOSSY = [
    (b'{"event":{"action":"a","category":["iam"]},"n":1234567890123456789012345678901}', "more than 64 bits"),
    (b'{"event":{"action":"a","category":["iam"]},"n":18446744073709551616}', "more than 64 bits"),
    (b'{"event":{"action":"a","category":["iam"]},"n":-9223372036854775809}', "more than 64 bits"),
    (b'{"event":{"action":"a","category":["iam"]},"amount":0.12345678901234567}', "does not fit a double"),
    (b'{"event":{"action":"a","category":["iam"]},"user":{"name":"alice","name":"mallory"}}', "duplicate key 'name'"),
    (b'{"event":{"action":"a","category":["iam"]},"x" : 1, "x" : 2}', "duplicate key 'x'"),
]


@pytest.mark.parametrize("line, reason", LOSSY)
def test_a_line_that_parsing_would_change_is_kept_whole(line, reason):
    doc = from_json_line(line, SRC, NOW)
    assert doc["event"]["original"] == line.decode()
    assert any(reason in r for r in doc["auditseal"]["lossy"]), doc["auditseal"]
    with pytest.raises(Rejected) as refused:
        from_json_line(line, SRC, NOW, keep_original="refuse")
    assert refused.value.reason == "lossy_json" and reason in str(refused.value)


@pytest.mark.parametrize(
    "line",
    [
        b'{"event":{"action":"a","category":["iam"]},"n":18446744073709551615,"m":-9223372036854775808}',
        b'{"event":{"action":"a","category":["iam"]},"x":0.1,"t":"10:1e5","h":"3e4f9a","s":"a\\":b"}',
        b'{"event.action":"a","event.category":"iam","ratio":1.5e3,"big":123456789012345}',
    ],
)
def test_a_line_parsed_exactly_keeps_no_copy(line):
    doc = from_json_line(line, SRC, NOW)
    assert "original" not in doc["event"] and "lossy" not in doc.get("auditseal", {})
    assert from_json_line(line, SRC, NOW, keep_original="always")["event"]["original"] == line.decode()


def test_an_applications_own_original_is_not_overwritten():
    line = b'{"event":{"action":"a","category":["iam"],"original":"app text"},"n":1e1,"n":2}'
    doc = from_json_line(line, SRC, NOW)
    assert doc["event"]["original"] == "app text" and doc["auditseal"]["original"] == line.decode()


@pytest.mark.parametrize("dotted", [False, True])
def test_keyword_lists_holding_one_string_become_lists_and_wrong_shapes_are_moved(dotted):
    """The same line nested (the fast path) and with dotted keys (the reshaping path)."""
    if dotted:
        line = (
            b'{"event.action":"a","event.category":"iam","event.type":"start","tags":"t1",'
            b'"related.user":"bob","user.name":5,"source.ip":"not-an-ip"}'
        )
    else:
        line = (
            b'{"event":{"action":"a","category":"iam","type":"start"},"tags":"t1",'
            b'"related":{"user":"bob"},"user":{"name":5},"source":{"ip":"not-an-ip"}}'
        )
    doc = from_json_line(line, SRC, NOW)
    assert doc["event"]["type"] == ["start"] and doc["tags"] == ["t1"] and doc["related"] == {"user": ["bob"]}
    assert doc["user"] == {} and doc["source"] == {}
    assert doc["auditseal"]["invalid"] == [
        {"field": "source.ip", "value": '"not-an-ip"', "reason": "ECS has an IP address here"},
        {"field": "user.name", "value": "5", "reason": "ECS has a keyword (string) here"},
    ]
