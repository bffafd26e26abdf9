"""Alerts against a real server and a real webhook receiver that checks every signature: each
rule kind fires once per episode and resolves, deliveries are retried, cooldowns hold, rules
come from the API and from a file, and the firing state is a Prometheus metric."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from router_ext.alerts import ralph as alert_ralph
from router_ext.reports.ledger import user_column
from router_ext.web import ralph_control
from router_ext_client.client import Client
from router_ext_client.config import ClientConfig
from tests.alerts_support import Receiver, receiver
from tests.support import ROOT, ServerProcess, served
from tests.test_prometheus import sample

SECRET = "s3cret-for-tests"
USAGE = {"model": "claude-sonnet-4-5", "models": {"claude-sonnet-4-5": {
    "input_tokens": 10_000, "output_tokens": 1_000}}}  # $0.045


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    with receiver(SECRET) as state:
        state.fail_first_attempts = True  # every delivery needs its retry
        yield state


@pytest.fixture(scope="module")
def alerting(tmp_path_factory: pytest.TempPathFactory,
             hooks: Receiver) -> Iterator[ServerProcess]:
    yield from served(tmp_path_factory, "alerts", {
        "ROUTER_EXT_ALERT_WEBHOOKS": hooks.url, "ROUTER_EXT_ALERT_WEBHOOK_SECRET": SECRET,
        "ROUTER_EXT_ALERT_INTERVAL_SECONDS": "3600", "ROUTER_EXT_ALERT_TIMEZONE": "UTC"})


@pytest.fixture(scope="module")
def http(alerting: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=alerting.url, timeout=20) as client:
        yield client


def add_rule(http: httpx.Client, **rule: Any) -> dict[str, Any]:
    r = http.post("/api/alerts/rules", json={"cooldown_seconds": 3600, **rule})
    assert r.status_code == 201, r.text
    return dict(r.json())


def check(http: httpx.Client) -> None:
    r = http.post("/api/alerts/check")
    assert r.status_code == 200, r.text


def firing(http: httpx.Client, rule: str) -> list[dict[str, Any]]:
    return [e for e in http.get("/api/alerts").json()["firing"] if e["rule_name"] == rule]


def episodes(http: httpx.Client, rule: str) -> list[dict[str, Any]]:
    found = http.get("/api/alerts/episodes", params={"limit": 500}).json()["episodes"]
    return [e for e in found if e["rule_name"] == rule]


def event(http: httpx.Client, session: str, name: str, **fields: Any) -> dict[str, Any]:
    payload = {"session_id": session, "cwd": fields.pop("cwd", "/w/alerts"),
               **fields.pop("payload", {})}
    r = http.post("/events", json={"source_app": "alerts", "session_id": session,
                                   "hook_event_type": name, "payload": payload, **fields})
    assert r.status_code == 200, r.text
    return dict(r.json())


def assert_one_episode(hooks: Receiver, http: httpx.Client, rule: str, subject: str) -> None:
    """Exactly one firing and one resolved delivery for the subject, both signed and each
    retried once after the receiver's 503; and one stored episode, resolved. (Retries may
    deliver them in either order; the body says which is which.)"""
    delivered = hooks.wait_for(2, rule, subject)
    assert sorted(d.event for d in delivered) == ["alert.firing", "alert.resolved"], delivered
    assert {d.event: d.payload["episode"]["status"] for d in delivered} == {
        "alert.firing": "firing", "alert.resolved": "resolved"}
    for d in delivered:
        tries = [a for a in hooks.attempts if a.delivery_id == d.delivery_id]
        assert [a.status for a in tries] == [503, 200] and all(a.signed for a in tries)
        assert d.payload["rule"]["name"] == rule
    stored = [e for e in episodes(http, rule) if e["subject"] == subject]
    assert len(stored) == 1 and stored[0]["status"] == "resolved"


def test_cost_budget_per_project(hooks: Receiver, http: httpx.Client) -> None:
    rule = add_rule(http, name="daily-cost", kind="cost", period="day", scope="project",
                    threshold=0.04)
    session = str(uuid.uuid4())
    event(http, session, "SessionStart", cwd="/w/spendy")
    event(http, session, "Stop", cwd="/w/spendy", payload={"router_ext_usage": USAGE})
    check(http)
    check(http)  # still over budget: the same episode, no second notice
    (episode,) = firing(http, "daily-cost")
    assert episode["subject"] == "spendy" and episode["value"] == pytest.approx(0.045)
    assert "$0.04 budget" in episode["message"]
    metrics = http.get("/metrics").text
    assert sample(metrics, "harness_alerts_firing", rule="daily-cost", kind="cost") == 1
    # Raising the budget over what was spent ends the episode.
    r = http.put(f"/api/alerts/rules/{rule['id']}", json={**rule, "threshold": 1.0})
    assert r.status_code == 200, r.text
    check(http)
    assert firing(http, "daily-cost") == []
    assert_one_episode(hooks, http, "daily-cost", "spendy")
    metrics = http.get("/metrics").text
    assert sample(metrics, "harness_alerts_firing", rule="daily-cost", kind="cost") == 0
    assert (sample(metrics, "harness_alert_webhook_deliveries_total", outcome="delivered")
            or 0) >= 2


def test_tokens_budget_for_everything(hooks: Receiver, http: httpx.Client) -> None:
    rule = add_rule(http, name="weekly-tokens", kind="tokens", period="week", threshold=1)
    session = str(uuid.uuid4())
    event(http, session, "Stop", payload={"router_ext_usage": USAGE})
    check(http)
    assert [e["subject"] for e in firing(http, "weekly-tokens")] == ["all"]
    http.put(f"/api/alerts/rules/{rule['id']}", json={**rule, "threshold": 10**12})
    check(http)
    assert_one_episode(hooks, http, "weekly-tokens", "all")


def test_an_approval_waiting_too_long(hooks: Receiver, http: httpx.Client) -> None:
    add_rule(http, name="slow-approval", kind="hitl_wait", threshold=0.01)  # 0.6 s
    asked = event(http, str(uuid.uuid4()), "Notification",
                  humanInTheLoop={"question": "Deploy?", "type": "question", "timeout": 600})
    time.sleep(1.0)
    check(http)
    subject = f"request {asked['id']}"
    assert [e["subject"] for e in firing(http, "slow-approval")] == [subject]
    r = http.post(f"/events/{asked['id']}/respond", json={"response": "yes",
                                                         "respondedBy": "test"})
    assert r.status_code == 200, r.text
    check(http)
    assert firing(http, "slow-approval") == []
    assert_one_episode(hooks, http, "slow-approval", subject)


def test_a_running_session_gone_quiet(hooks: Receiver, http: httpx.Client) -> None:
    add_rule(http, name="quiet-session", kind="session_idle", threshold=0.01)
    session = str(uuid.uuid4())
    event(http, session, "SessionStart")
    time.sleep(1.0)
    check(http)
    assert session in [e["subject"] for e in firing(http, "quiet-session")]
    event(http, session, "SessionEnd")
    check(http)
    assert session not in [e["subject"] for e in firing(http, "quiet-session")]
    assert_one_episode(hooks, http, "quiet-session", session)


def test_tool_failure_rate_of_a_project(hooks: Receiver, http: httpx.Client) -> None:
    add_rule(http, name="failing-tools", kind="tool_failure_rate", scope="project",
             match="flaky", threshold=0.5, min_count=4, window_seconds=600)
    session = str(uuid.uuid4())
    event(http, session, "SessionStart", cwd="/w/flaky")
    for name in ("PostToolUse", "PostToolUseFailure", "PostToolUseFailure",
                 "PostToolUseFailure", "PostToolUse"):
        event(http, session, name, cwd="/w/flaky", payload={"tool_name": "Bash"})
    check(http)
    (episode,) = firing(http, "failing-tools")
    assert episode["subject"] == "flaky" and episode["value"] == pytest.approx(0.6)
    for _ in range(4):
        event(http, session, "PostToolUse", cwd="/w/flaky", payload={"tool_name": "Bash"})
    check(http)
    assert firing(http, "failing-tools") == []
    assert_one_episode(hooks, http, "failing-tools", "flaky")


def task(http: httpx.Client, loop: str, name: str, n: int, ok: bool) -> None:
    r = http.post("/metrics/harness", json={
        "source": "ralph", "event": name, "session_id": loop, "label": "alerts",
        "task_id": f"t{n}", "success": ok, "duration_ms": 100})
    assert r.status_code in (200, 201), r.text


def test_ralph_failing_tasks_in_a_row_and_the_cooldown(hooks: Receiver,
                                                        http: httpx.Client) -> None:
    add_rule(http, name="ralph-streak", kind="ralph_failures", threshold=2)
    loop = f"loop-{uuid.uuid4().hex[:8]}"
    task(http, loop, "task_failed", 1, False)
    check(http)
    assert firing(http, "ralph-streak") == []  # one failure is not yet a streak
    task(http, loop, "task_failed", 2, False)
    check(http)
    assert [e["subject"] for e in firing(http, "ralph-streak")] == [loop]
    task(http, loop, "task_completed", 3, True)
    check(http)
    assert firing(http, "ralph-streak") == []
    assert_one_episode(hooks, http, "ralph-streak", loop)
    # Failing again within the cooldown opens no new episode.
    task(http, loop, "task_failed", 4, False)
    task(http, loop, "task_failed", 5, False)
    check(http)
    assert firing(http, "ralph-streak") == [] and len(episodes(http, "ralph-streak")) == 1


def test_a_reporting_hosts_spool_growing(hooks: Receiver, http: httpx.Client,
                                         tmp_path: Path) -> None:
    """The real client: events spooled while the server was down carry the backlog; the
    first report after it comes back fires, the next one (spool replayed) resolves."""
    add_rule(http, name="spool-backlog", kind="spool_growth", threshold=2000)
    host = f"laptop-{uuid.uuid4().hex[:6]}"
    config = ClientConfig.from_env(spool_dir=str(tmp_path / "spool"), host=host, deadline=0.3,
                                   attempt_timeout=0.2, max_attempts=1)
    down = Client(config.with_(url="http://127.0.0.1:9"))
    for n in range(20):
        assert down.send_event({"source_app": "alerts", "session_id": "spooled",
                                "hook_event_type": "Notification",
                                "payload": {"n": n}}).status == "spooled"
    up = Client(config.with_(url=str(http.base_url).rstrip("/")))
    assert up.send_event({"source_app": "alerts", "session_id": "back",
                          "hook_event_type": "Notification", "payload": {}}).status == "sent"
    check(http)
    (episode,) = firing(http, "spool-backlog")
    assert episode["subject"] == host and episode["value"] > 2000
    assert up.spool.size() == 0  # replayed after the good send
    up.send_event({"source_app": "alerts", "session_id": "back",
                   "hook_event_type": "Notification", "payload": {}})
    check(http)
    assert firing(http, "spool-backlog") == []
    assert_one_episode(hooks, http, "spool-backlog", host)
    metrics = http.get("/metrics").text
    assert sample(metrics, "harness_host_spool_bytes", host=host) == 0


def test_bad_rules_are_refused_with_the_field_named(http: httpx.Client) -> None:
    for body, field in (({"name": "x", "kind": "weather", "threshold": 1}, "kind"),
                        ({"name": "x", "kind": "cost", "threshold": -1}, "threshold"),
                        ({"name": "x", "kind": "cost", "threshold": 1, "period": "year"},
                         "period"),
                        ({"name": "x", "kind": "tool_failure_rate", "threshold": 1.5},
                         "threshold"),
                        ({"name": "x", "kind": "hitl_wait", "threshold": 5,
                          "stop_ralph": True}, "stop_ralph"),
                        ({"name": "x", "kind": "cost", "threshold": 1,
                          "webhooks": ["ftp://x.invalid"]}, "webhooks"),
                        ({"name": "x", "kind": "cost", "threshold": 1, "colour": "red"},
                         "colour")):
        r = http.post("/api/alerts/rules", json=body)
        assert r.status_code == 400 and r.json()["field"] == field, (body, r.text)
    broken = http.post("/api/alerts/rules", content=b"{",
                       headers={"content-type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"]
    add_rule(http, name="twice", kind="cost", threshold=100)
    assert http.post("/api/alerts/rules", json={"name": "twice", "kind": "cost",
                                                "threshold": 1}).status_code == 409
    assert http.put("/api/alerts/rules/999999", json={"name": "y", "kind": "cost",
                                                      "threshold": 1}).status_code == 404
    assert http.delete("/api/alerts/rules/abc").status_code == 400
    assert http.get("/health").status_code == 200


def test_per_user_budgets_need_user_attribution(http: httpx.Client) -> None:
    r = http.post("/api/alerts/rules", json={"name": "per-user", "kind": "cost",
                                             "scope": "user", "threshold": 5})
    if user_column() is None:  # sessions that record no user cannot be budgeted per user
        assert r.status_code == 400 and r.json()["field"] == "scope"
    else:
        assert r.status_code == 201, r.text
        check(http)  # and the check runs without error
        assert http.get("/health").status_code == 200


def test_the_stop_request_is_the_one_the_ralph_loop_reads() -> None:
    assert (alert_ralph.SOURCE, alert_ralph.STOP) == (ralph_control.SOURCE, ralph_control.STOP)


def test_rules_from_a_file_are_read_only(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text('[[rules]]\nname = "from-file"\nkind = "cost"\nperiod = "month"\n'
                     'threshold = 500\n')
    gen = served(_Factory(tmp_path), "file", {"ROUTER_EXT_ALERT_RULES_FILE": str(rules)})
    server = next(gen)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            (rule,) = http.get("/api/alerts/rules").json()["rules"]
            assert rule["name"] == "from-file" and rule["origin"] == "file"
            assert rule["period"] == "month" and rule["threshold"] == 500
            r = http.put(f"/api/alerts/rules/{rule['id']}", json={**rule, "threshold": 1})
            assert r.status_code == 409 and "rules file" in r.json()["detail"]
            assert http.delete(f"/api/alerts/rules/{rule['id']}").status_code == 409
            # No secret on this server: a rule with webhooks cannot be signed.
            r = http.post("/api/alerts/rules", json={"name": "hooked", "kind": "cost",
                                                     "threshold": 1,
                                                     "webhooks": ["http://127.0.0.1:9/x"]})
            assert r.status_code == 400 and r.json()["field"] == "webhooks"
    finally:
        gen.close()


class _Factory:
    """The bit of pytest's tmp_path_factory that `served` uses."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def mktemp(self, name: str) -> Path:
        path = self.base / f"{name}-{uuid.uuid4().hex[:6]}"
        path.mkdir()
        return path


@pytest.mark.parametrize(("content", "problem"), [
    ("not = [toml", "cannot read"),
    ('[[rules]]\nname = "x"\nkind = "cost"\nthreshold = "lots"\n', "'threshold' must be"),
])
def test_an_unusable_rules_file_stops_the_server_with_one_line(
        tmp_path: Path, content: str, problem: str) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(content)
    proc = subprocess.run(
        [sys.executable, "-m", "router_ext.cli", "serve", "--http-port", "0", "--grpc-port", "0",
         "--database-url", f"sqlite:///{tmp_path / 'db.sqlite'}"],
        env={**dict(__import__("os").environ), "ROUTER_EXT_ALERT_RULES_FILE": str(rules)},
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "ROUTER_EXT_ALERT_RULES_FILE" in lines[0] and problem in lines[0]
    assert json.dumps(lines)  # one readable line, no traceback
