"""A budget stops a real Ralph loop: the real Claude Code CLI runs tasks against the scripted
API, the loop reports each task, the task's cost crosses the loop's budget, and the stop
request the alert stores ends the loop after the task in progress."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.claude import ClaudeRunner
from tests.e2e.test_ralph_e2e import run_ralph
from tests.support import ServerProcess, served
from tests.test_client import stored

pytestmark = pytest.mark.e2e
LOOP = "budget-loop"


@pytest.fixture
def budget_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # Rules are checked only because usage changed (the timer is an hour away).
    yield from served(tmp_path_factory, "budget", {"ROUTER_EXT_ALERT_INTERVAL_SECONDS": "3600"})


def test_a_loop_budget_stops_the_loop(claude: ClaudeRunner, budget_server: ServerProcess,
                                      tmp_path: Path) -> None:
    r = httpx.post(f"{budget_server.url}/api/alerts/rules", timeout=10, json={
        "name": "loop-budget", "kind": "cost", "period": "total", "scope": "loop",
        "match": LOOP, "threshold": 0.01, "stop_ralph": True})
    assert r.status_code == 201, r.text
    # Each task costs 5000 * $3 + 500 * $15 per million = $0.0225, over the budget at once.
    claude.scenario("costly", {"turns": [{"text": "done"}],
                               "usage": {"input_tokens": 5000, "output_tokens": 500}})
    done = run_ralph(claude, budget_server, tmp_path, LOOP,
                     [f"scenario:costly task {n}" for n in range(1, 7)])
    assert done.returncode == 0, done.stderr
    events = stored(budget_server, session=LOOP)
    names = [e["hook_event_type"] for e in events]
    finished = names.count("task_completed")
    assert 1 <= finished <= 2 < 6, names  # the task in progress may finish; no more start
    assert events[-1]["payload"]["stop_reason"] == "stop_requested"
    (stop,) = [e for e in events if e["hook_event_type"] == "stop_requested"]
    assert stop["payload"]["requested_by"] == "router-ext alerts"
    assert stop["payload"]["reason"].startswith("alert loop-budget: loop budget-loop used $")
    alerts = httpx.get(f"{budget_server.url}/api/alerts", timeout=10).json()
    (episode,) = alerts["firing"]
    assert episode["subject"] == LOOP and episode["stopped_loops"] == [LOOP]
