"""The Prometheus alerting rules shipped in docs/alerts/: promtool finds them valid, their unit
tests pass, and they fire on what a real router-ext exposes after the conditions they watch."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from router_ext_client.client import Client
from router_ext_client.config import ClientConfig
from tests.support import ROOT, ServerProcess, require, served

pytestmark = pytest.mark.prometheus
RULES = ROOT / "docs" / "alerts" / "router-ext.rules.yml"
UNIT_TESTS = ROOT / "docs" / "alerts" / "router-ext.rules.test.yml"
TIMESTAMP = re.compile(r"_timestamp_seconds$")
COUNTER = re.compile(r"_total$")


def promtool() -> str:
    found = shutil.which("promtool")
    require(found is not None, "promtool not installed (Debian package prometheus)")
    assert found is not None
    return found


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60)


def test_the_rules_are_valid_and_their_unit_tests_pass() -> None:
    checked = run_promtool("check", "rules", str(RULES))
    assert checked.returncode == 0 and "SUCCESS: 10 rules found" in checked.stdout, \
        checked.stdout + checked.stderr
    tested = run_promtool("test", "rules", str(UNIT_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose webhook receiver does not exist (so a delivery fails)."""
    yield from served(tmp_path_factory, "rules", {
        "ROUTER_EXT_ALERT_WEBHOOKS": "http://127.0.0.1:9/nobody",
        "ROUTER_EXT_ALERT_WEBHOOK_SECRET": "x", "ROUTER_EXT_ALERT_WEBHOOK_ATTEMPTS": "1",
        "ROUTER_EXT_ALERT_INTERVAL_SECONDS": "3600"})


def make_conditions(server: ServerProcess, tmp_path: Path) -> None:
    """Every condition a shipped rule watches, through the real APIs and client."""
    session = str(uuid.uuid4())
    with httpx.Client(base_url=server.url, timeout=10) as http:
        def post(name: str, **payload: Any) -> None:
            r = http.post("/events", json={"source_app": "rules", "session_id": session,
                                           "hook_event_type": name,
                                           "payload": {"session_id": session, **payload}})
            assert r.status_code == 200, r.text

        post("SessionStart", cwd="/w/rules")  # left running: a quiet session
        post("Stop", router_ext_usage={"model": "claude-sonnet-4-5", "models": {
            "claude-sonnet-4-5": {"output_tokens": 4_000_000}}})  # $60
        for n in range(25):
            post("PostToolUseFailure" if n % 5 else "PostToolUse", tool_name="Bash")
        assert http.post("/events", json={
            "source_app": "rules", "session_id": session, "hook_event_type": "Notification",
            "payload": {}, "humanInTheLoop": {"question": "ok?", "type": "question",
                                              "timeout": 3600}}).status_code == 200
        for n in range(3):
            http.post("/metrics/harness", json={"source": "ralph", "event": "task_failed",
                                                 "session_id": "rules-loop", "label": "nightly",
                                                 "task_id": f"t{n}", "success": False})
        assert http.post("/api/alerts/rules", json={"name": "daily-cost", "kind": "cost",
                                                    "threshold": 1}).status_code == 201
        assert http.post("/api/alerts/check").status_code == 200
    config = ClientConfig.from_env(spool_dir=str(tmp_path / "spool"), host="laptop-1",
                                   deadline=0.2, attempt_timeout=0.1, max_attempts=1)
    down = Client(config.with_(url="http://127.0.0.1:9"))
    for _ in range(8000):  # > 1 MiB of events it could not deliver (137 bytes each)
        down.spool.append("event", {"source_app": "rules", "session_id": "s",
                                    "hook_event_type": "Notification", "payload": {}})
    up = Client(config.with_(url=server.url, replay_batch=0))
    assert up.send_event({"source_app": "rules", "session_id": "s",
                          "hook_event_type": "Notification", "payload": {}}).status == "sent"


def series_from(scrape: str, scraped_at: float) -> list[dict[str, str]]:
    """The scrape as promtool input series over one hour: counters grow to their value in the
    last 15 minutes, timestamps become seconds since the recording's start, gauges hold."""
    wanted = {m for m in re.findall(r"\b(harness_[a-z_]+)", RULES.read_text())}
    out = []
    for line in scrape.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name_labels, value = line.rsplit(" ", 1)
        name = name_labels.split("{")[0]
        if name not in wanted:
            continue
        v = float(value)
        if COUNTER.search(name):
            values = f"0x45 0+{v / 15}x15"
        elif TIMESTAMP.search(name):
            values = f"{v - scraped_at}x60"
        else:
            values = f"{v}x60"
        out.append({"series": name_labels, "values": values})
    return out


def expected(labels: dict[str, str], alert: dict[str, Any]) -> dict[str, Any]:
    def render(text: str) -> str:
        return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)

    return {"exp_labels": {**alert.get("labels", {}), **labels},
            "exp_annotations": {k: render(v) for k, v in alert["annotations"].items()}}


def test_the_rules_fire_on_a_real_servers_metrics(recorded: ServerProcess,
                                                  tmp_path: Path) -> None:
    make_conditions(recorded, tmp_path)
    deadline = time.monotonic() + 20  # the failed webhook delivery is counted shortly after
    while time.monotonic() < deadline:
        scraped_at = time.time()
        scrape = httpx.get(f"{recorded.url}/metrics", timeout=10).text
        if 'harness_alert_webhook_deliveries_total{outcome="failed"} 1.0' in scrape:
            break
        time.sleep(0.2)
    alerts = {r["alert"]: r for g in yaml.safe_load(RULES.read_text())["groups"]
              for r in g["rules"]}
    fire = {"RouterExtDailyCostBudget": [{}], "RouterExtApprovalWaiting": [{}],
            "RouterExtSessionQuiet": [{"source": "interactive"}],
            "RouterExtToolFailureRate": [{}], "RouterExtRalphFailing": [{"label": "nightly"}],
            "RouterExtSpoolGrowing": [{"host": "laptop-1"}],
            "RouterExtAlertFiring": [{"rule": "daily-cost", "kind": "cost"}],
            "RouterExtAlertWebhookFailing": [{"outcome": "failed"}],
            "RouterExtMonthlyCostBudget": [], "RouterExtDailyTokenBudget": []}
    assert set(fire) == set(alerts)
    unit = {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series_from(scrape, scraped_at),
        "alert_rule_test": [{"eval_time": "60m", "alertname": name,
                             "exp_alerts": [expected(labels, alerts[name]) for labels in want]}
                            for name, want in fire.items()]}]}
    path = tmp_path / "recorded.test.yml"
    path.write_text(json.dumps(unit, indent=1))  # JSON is YAML
    tested = run_promtool("test", "rules", str(path))
    assert tested.returncode == 0, tested.stdout + tested.stderr
