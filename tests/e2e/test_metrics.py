"""/metrics as a Prometheus user expects it: scraped once after start (nobody has asked
/readyz) it shows the current journal and lag gauges, process and build metrics, labelled
counters whose labels are known at 0, and no *_created series."""

import subprocess
import urllib.request

from tests.harness import wait_for


def scrape(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        return resp.read().decode()


def test_one_scrape_after_start_shows_current_state(pipeline):
    pipeline.start_collector()
    pipeline.start_agent()
    pipeline.write_events(0, 300)
    pipeline.wait_indexed(300)
    text = scrape(pipeline.setup.admin_url)
    values = pipeline.collector_metrics()
    assert values["auditseal_collector_journal_bytes"] > 0 and values["auditseal_collector_journal_segments"] >= 1
    sinks = [name for name in values if name.startswith("auditseal_collector_sink_lag_bytes{")]
    assert sinks and all(values[s] >= 0 for s in sinks), sinks
    for name in (
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        'python_gc_collections_total{generation="0"}',
    ):
        assert name in values, name
    assert any(n.startswith("auditseal_collector_build_info{") and 'version="' in n for n in values)
    for series in (
        'auditseal_collector_rejects_total{reason="bad_mac"}',
        'auditseal_collector_rejects_total{reason="tenant_not_allowed"}',
        'auditseal_collector_batches_total{status="503"}',
        'auditseal_collector_verify_runs_total{result="findings"}',
        'auditseal_collector_alerts_fired_total{rule="integrity-failure"}',
        'auditseal_collector_rule_events_skipped_total{reason="late"}',
    ):
        assert values.get(series) == 0, series
    assert "_created" not in text
    # The gauges follow the journal at each scrape, without /readyz.
    before = values["auditseal_collector_journal_bytes"]
    pipeline.write_events(300, 300)
    pipeline.wait_indexed(600)
    wait_for(lambda: pipeline.collector_metrics()["auditseal_collector_journal_bytes"] > before, 20, "journal growth")

    agent = pipeline.agent_metrics()
    assert agent['auditseal_agent_lines_read_total{input="app-audit"}'] == 600
    assert agent['auditseal_agent_file_truncations_total{input="app-audit"}'] == 0
    assert agent['auditseal_agent_batches_total{result="connection_error"}'] == 0
    assert any(n.startswith("auditseal_agent_build_info{") for n in agent) and "process_resident_memory_bytes" in agent
    assert "_created" not in scrape(f"http://127.0.0.1:{pipeline.agent_metrics_port}")


def lint(text: str) -> list[str]:
    """What promtool check metrics objects to, for the rules that apply here: the exposition
    parses; names are snake_case with a unit or _total where due; every family has HELP."""
    import re

    from prometheus_client.parser import text_string_to_metric_families

    problems = []
    for family in text_string_to_metric_families(text):
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", family.name):
            problems.append(f"{family.name}: not snake_case")
        if not family.documentation:
            problems.append(f"{family.name}: no HELP")
        if family.type == "counter" and not all(s.name.endswith("_total") for s in family.samples):
            problems.append(f"{family.name}: counter samples must end in _total")
        if family.type == "gauge" and family.name.endswith("_total"):
            problems.append(f"{family.name}: a gauge named _total")
        if family.type == "histogram" and not any(s.name.endswith("_bucket") for s in family.samples):
            problems.append(f"{family.name}: histogram without buckets")
        if re.search(r"_(ms|millis|milliseconds|kb|mb|percent)(_|$)", family.name):
            problems.append(f"{family.name}: use base units (seconds, bytes, ratio)")
    return problems


def test_the_exposition_passes_the_naming_rules(pipeline):
    pipeline.start_collector()
    pipeline.start_agent()
    pipeline.write_events(0, 10)
    pipeline.wait_indexed(10)
    for text in (scrape(pipeline.setup.admin_url), scrape(f"http://127.0.0.1:{pipeline.agent_metrics_port}")):
        assert lint(text) == []
        # Prometheus's own linter (Debian's promtool, which make test's test-deps provides).
        checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
