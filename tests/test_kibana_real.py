"""``setup --kibana`` against a real Kibana: ``make test-kibana-real KIBANA_URL=http://host:5601``
(credentials, when Kibana needs them: KIBANA_API_KEY, or KIBANA_USERNAME and KIBANA_PASSWORD).
Not part of ``make test``: no Kibana can run on the build machines."""

import base64
import os
import subprocess
import sys
import urllib.request

import orjson
import pytest
import yaml

from auditseal.dev import devsetup
from collector.sinks.es import kibana

pytestmark = pytest.mark.kibana_real


def _auth() -> dict:
    if os.environ.get("KIBANA_API_KEY"):
        return {"Authorization": f"ApiKey {os.environ['KIBANA_API_KEY']}"}
    if os.environ.get("KIBANA_USERNAME"):
        pair = f"{os.environ['KIBANA_USERNAME']}:{os.environ.get('KIBANA_PASSWORD', '')}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    return {}


def test_setup_imports_every_object_into_a_real_kibana_and_keeps_them_on_a_second_run(tmp_path):
    url = os.environ["KIBANA_URL"].rstrip("/")
    config = devsetup.setup(tmp_path / "dev").collector_config
    cfg = yaml.safe_load(config.read_text())
    index = {"type": "elasticsearch", "hosts": ["http://127.0.0.1:9200"]}
    if os.environ.get("KIBANA_API_KEY"):
        (tmp_path / "key").write_text(os.environ["KIBANA_API_KEY"])
        index["api_key_file"] = str(tmp_path / "key")
    elif os.environ.get("KIBANA_USERNAME"):
        (tmp_path / "password").write_text(os.environ.get("KIBANA_PASSWORD", ""))
        index |= {"username": os.environ["KIBANA_USERNAME"], "password_file": str(tmp_path / "password")}
    cfg["index"] = index
    config.write_text(yaml.safe_dump(cfg))

    def setup(*extra):
        argv = [sys.executable, "-m", "collector.main", "setup", "-c", str(config), "--kibana", url, *extra]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    first = setup("--overwrite")
    assert first.returncode == 0, first.stdout + first.stderr
    second = setup()
    assert second.returncode == 0 and "installed nothing" in second.stdout, second.stdout + second.stderr
    for o in kibana.saved_objects():
        request = urllib.request.Request(f"{url}/api/saved_objects/{o['type']}/{o['id']}", headers=_auth())
        with urllib.request.urlopen(request, timeout=30) as response:
            stored = orjson.loads(response.read())
        assert stored["attributes"]["title"] == o["attributes"]["title"]
        assert {(r["type"], r["id"]) for r in stored["references"]} == {(r["type"], r["id"]) for r in o["references"]}
