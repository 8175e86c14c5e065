"""``auditseal rules check|test``, as a rule author runs them."""

import subprocess
import sys
from pathlib import Path

import orjson

PACK = Path(__file__).resolve().parent.parent / "configs" / "rules"


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "auditseal.cli", "rules", *args], capture_output=True, text=True, timeout=60
    )


def login(n, minute, outcome="failure", ip="203.0.113.9", tenant="acme"):
    return {
        "@timestamp": f"2026-11-30T10:{minute:02d}:00.000000Z",
        "organization": {"id": tenant},
        "event": {"id": f"id{n}", "action": "login", "category": ["authentication"], "outcome": outcome},
        "source": {"ip": ip},
        "user": {"name": "bob"},
    }


def test_rules_test_prints_the_alerts_of_the_default_pack(tmp_path):
    events = [login(n, n) for n in range(6)] + [login(9, 7, tenant="globex")] + [login(10, 8, "success")]
    path = tmp_path / "events.ndjson"
    path.write_bytes(
        b"".join(orjson.dumps(e) + b"\n" for e in events) + b"not json\n" + b'{"bad": "\xff\xfe"}\n' + b"[1, 2]\n"
    )
    done = cli("test", "--rules", str(PACK), "--events", str(path))
    assert done.returncode == 0, done.stderr
    alerts = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [(a["rule"], a["tenant"], a["group"]) for a in alerts] == [
        ("failed-logins-from-one-ip", "acme", ["203.0.113.9"]),
        ("brute-force-then-success", "acme", ["bob"]),
    ]
    assert alerts[0]["window_start"] == "2026-11-30T10:00:00.000000Z" and len(alerts[0]["events"]) == 5
    assert f"{path}:9: not JSON" in done.stderr and f"{path}:10: not JSON" in done.stderr  # invalid UTF-8
    assert f"{path}:11: not a JSON object" in done.stderr


def test_rules_check_names_file_line_and_field(tmp_path):
    assert cli("check", str(PACK)).stdout.strip() == "8 rules ok"
    (tmp_path / "bad.yaml").write_text("rules:\n  - name: x\n    kind: threshold\n    count: 0\n    window: 1m\n")
    done = cli("check", str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{tmp_path / 'bad.yaml'}:4: rules.0.count:" in done.stderr
