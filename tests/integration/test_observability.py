"""What sdl ships for monitoring, checked against what sdl exports:

  alerts:    packaging/prometheus/sdl-alerts.yml passes `promtool check rules`, and
             `promtool test rules tests/prometheus/sdl-alerts.test.yml` (each alert fires on
             its case and stays silent on a healthy pipeline)
  names:     every metric the alerting rules and every query of the Grafana dashboard
             (packaging/grafana/sdl-dashboard.json) name is exported by a running `sdl run`
             (scraped from its /metrics, per-table series on); the dashboard is valid JSON
             whose panels all query something
"""
import json
import os
import re
import shutil
import subprocess
import urllib.request

import pytest
import yaml

from conftest import ROOT
from mariadb import free_port
from runlib import Daemon, wait_for_offset

ALERTS = os.path.join(ROOT, "packaging", "prometheus", "sdl-alerts.yml")
ALERT_TESTS = os.path.join(ROOT, "tests", "prometheus", "sdl-alerts.test.yml")
DASHBOARD = os.path.join(ROOT, "packaging", "grafana", "sdl-dashboard.json")
METRIC = re.compile(r"\b((?:sdl|process)_[a-z0-9_]+)\b")


def promtool(*args):
    tool = shutil.which("promtool")
    if not tool:
        pytest.fail("promtool not found: scripts/install-deps installs Debian's prometheus package")
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=120)


def test_alert_rules_check_and_unit_tests_pass():
    p = promtool("check", "rules", ALERTS)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS: 9 rules found" in p.stdout, p.stdout
    p = promtool("test", "rules", ALERT_TESTS)
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr
    names = {r["alert"] for g in yaml.safe_load(open(ALERTS))["groups"] for r in g["rules"]}
    tested = set(re.findall(r"alertname: (\w+)", open(ALERT_TESTS).read()))
    assert names == tested, names ^ tested
    assert {"SdlLagHigh", "SdlPipelineStalled", "SdlMetricsDown", "SdlTargetDown",
            "SdlSourceDown", "SdlRestarting", "SdlStagedBacklog", "SdlDeadLetters"} <= names


@pytest.fixture(scope="module")
def exported(mariadb, tmp_path_factory):
    """The metric names a running sdl exports (histograms with their _bucket, _sum, _count)."""
    from conftest import Sdl
    from runlib import Target
    tmp = tmp_path_factory.mktemp("obs")
    target = Target(tmp, "observability")
    sdl = Sdl(tmp, mariadb)
    port = free_port()
    mariadb.sql("CREATE DATABASE IF NOT EXISTS obs",
                "CREATE TABLE IF NOT EXISTS obs.t (id INT PRIMARY KEY)")
    start = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp, batch="max_delay: 20ms", start=start,
               extra=f"http:\n  listen: 127.0.0.1:{port}\n  table_metrics: 5\n")
    d.start()
    try:
        mariadb.sql("INSERT INTO obs.t VALUES (1), (2)", "UPDATE obs.t SET id = 3 WHERE id = 2",
                    "DELETE FROM obs.t WHERE id = 1")
        wait_for_offset(target, mariadb.gtid_binlog_pos(), d)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    finally:
        assert d.stop() == 0, d.output()[-3000:]
        target.close()
    p = subprocess.run([shutil.which("promtool"), "check", "metrics"], input=text,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    names = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.M))
    assert "sdl_table_rows_applied_total" in names and "process_cpu_seconds_total" in names
    return names


def test_alert_rules_name_only_exported_metrics(exported):
    text = open(ALERTS).read()
    exprs = [r["expr"] for g in yaml.safe_load(text)["groups"] for r in g["rules"]]
    used = {m for e in exprs for m in METRIC.findall(e)}
    assert used and used <= exported, used - exported


def test_dashboard_queries_name_exported_metrics(exported):
    dash = json.load(open(DASHBOARD))
    targets = []
    for panel in dash["panels"]:
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), panel["title"]
        for t in panel["targets"]:
            metrics = METRIC.findall(t["expr"])
            assert metrics, (panel["title"], t["expr"])
            targets.append((panel["title"], metrics))
    missing = {(title, m) for title, ms in targets for m in ms if m not in exported}
    assert not missing, missing
    # the pipeline variable comes from a series sdl exports too
    var = [v for v in dash["templating"]["list"] if v["name"] == "pipeline"][0]
    assert set(METRIC.findall(var["definition"])) <= exported
    print(f"{len(targets)} dashboard queries over {len({m for _, ms in targets for m in ms})} metrics")
