"""A web page on another origin attacks a router-ext that holds a real Claude Code permission
request, in real headless Chromium, with the default settings (no token, loopback bind).

The page is served from another loopback address and port (127.0.0.2) and tries what a page
could do before: read WS /stream and SSE, approve the request with text/plain and form POSTs,
stop a Ralph loop, store events. Every attempt is refused, the request stays pending, the log
names the origin and the setting that would allow it, and the CLI's tool never runs."""

from __future__ import annotations

import functools
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.claude import ClaudeResult, ClaudeRunner
from tests.e2e.test_http_hooks_e2e import MARKER, settings
from tests.support import ServerProcess, start_server

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
ATTACKER_HOST = "127.0.0.2"
LOOP = "victim-loop"

ATTACK = """<!doctype html><meta charset="utf-8"><title>attacker</title><body><script>
const target = "%(target)s";
const id = %(event_id)d;
window.results = {};
async function attempt(name, fn) {
  try { window.results[name] = await fn(); } catch (e) { window.results[name] = "error: " + e; }
}
function post(path, init) {
  return fetch(target + path, { method: "POST", mode: "no-cors", ...init }).then((r) => r.type);
}
function submitForm(enctype, path, name, value) {
  return new Promise((resolve) => {
    const frame = document.createElement("iframe");
    frame.name = "f" + Math.random().toString(36).slice(2);
    document.body.appendChild(frame);
    const form = document.createElement("form");
    Object.assign(form, { method: "POST", action: target + path, enctype, target: frame.name });
    const input = Object.assign(document.createElement("input"), { type: "hidden", name, value });
    form.appendChild(input);
    document.body.appendChild(form);
    frame.onload = () => resolve("submitted");
    form.submit();
    setTimeout(() => resolve("no load event"), 5000);
  });
}
function readSocket() {
  return new Promise((resolve) => {
    const state = { opened: false, messages: 0, code: null };
    const ws = new WebSocket(target.replace("http", "ws") + "/stream");
    ws.onopen = () => { state.opened = true; };
    ws.onmessage = () => { state.messages += 1; };
    ws.onclose = (ev) => { state.code = ev.code; resolve(state); };
    setTimeout(() => { ws.close(); resolve(state); }, 4000);
  });
}
function readEventSource() {
  return new Promise((resolve) => {
    const state = { messages: 0, failed: false };
    const es = new EventSource(target + "/api/events/stream");
    es.addEventListener("event", () => { state.messages += 1; });
    es.onerror = () => { state.failed = true; es.close(); resolve(state); };
    setTimeout(() => { es.close(); resolve(state); }, 4000);
  });
}
const approve = JSON.stringify({ permission: true, respondedBy: "attacker" });
(async () => {
  await attempt("stream", readSocket);
  await attempt("sse", readEventSource);
  await attempt("recent", () => fetch(target + "/events/recent").then((r) => r.status));
  await attempt("respondTextPlain", () => post(`/events/${id}/respond`,
    { headers: { "content-type": "text/plain" }, body: approve }));
  await attempt("respondNoType", () => post(`/events/${id}/respond`,
    { body: new Blob([approve]) }));
  await attempt("respondCorsJson", () => fetch(target + `/events/${id}/respond`, {
    method: "POST", headers: { "content-type": "application/json" }, body: approve,
  }).then((r) => r.status));
  await attempt("formTextPlain", () => submitForm("text/plain", `/events/${id}/respond`,
    '{"permission":true,"respondedBy":"attacker","x":"', '"}'));
  await attempt("formUrlencoded", () => submitForm("application/x-www-form-urlencoded",
    `/events/${id}/respond`, "permission", "true"));
  await attempt("ralphStop", () => post("/api/ralph/%(loop)s/stop",
    { headers: { "content-type": "text/plain" }, body: "{}" }));
  await attempt("ralphStopEmpty", () => post("/api/ralph/%(loop)s/stop", {}));
  await attempt("events", () => post("/events", { headers: { "content-type": "text/plain" },
    body: JSON.stringify({ source_app: "attacker", session_id: "x", hook_event_type: "Injected",
                           payload: { by: "attacker" } }) }));
  window.done = true;
})();
</script></body>
"""


@pytest.fixture
def attacker(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A static site on another loopback address: (its folder, its origin)."""
    folder = tmp_path / "attacker"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    site = http.server.ThreadingHTTPServer((ATTACKER_HOST, 0), handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        yield folder, f"http://{ATTACKER_HOST}:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()


@pytest.fixture
def victim(tmp_path: Path) -> Iterator[ServerProcess]:
    """router-ext with its defaults: no token, loopback."""
    proc = start_server(f"sqlite:///{tmp_path / 'victim.db'}",
                        env={"ROUTER_EXT_PERMISSION_HOLD_SECONDS": "90"})
    yield proc
    proc.stop()


def pending_request(server: ServerProcess, source_app: str, deadline: float) -> dict[str, Any]:
    while time.monotonic() < deadline:
        rows = httpx.get(f"{server.url}/events/recent", timeout=10, params={
            "source_app": source_app, "hook_event_type": "PermissionRequest"}).json()
        if rows:
            return dict(rows[-1])
        time.sleep(0.2)
    raise AssertionError("Claude Code never asked for permission")


def test_another_origin_can_neither_read_nor_approve(
        page: Any, claude: ClaudeRunner, victim: ServerProcess, attacker: tuple[Path, str],
        tmp_path: Path) -> None:
    project = claude.project(tmp_path / "victim", settings(victim, "victim"))
    target = project / MARKER
    claude.scenario("perm", {"turns": [
        {"tool": "Bash", "input": {"command": f"touch {target}", "description": "touch"}},
        {"text": "Finished."},
    ]})
    outcome: list[ClaudeResult] = []
    run = threading.Thread(target=lambda: outcome.append(claude.run(
        "scenario:perm make the file", cwd=project, args=["--model", "claude-sonnet-4-5"])))
    run.start()
    request = pending_request(victim, "victim", time.monotonic() + 60)
    assert request["humanInTheLoopStatus"]["status"] == "pending"

    folder, origin = attacker
    (folder / "attack.html").write_text(ATTACK % {
        "target": victim.url, "event_id": request["id"], "loop": LOOP})
    page.goto(f"{origin}/attack.html")
    page.wait_for_function("window.done === true", timeout=60_000)
    results = page.evaluate("window.results")

    # Reads: the socket is refused at the handshake, the rest by the browser (no CORS).
    assert results["stream"]["messages"] == 0 and not results["stream"]["opened"], results
    assert results["sse"] == {"messages": 0, "failed": True}, results
    assert str(results["recent"]).startswith("error"), results
    assert str(results["respondCorsJson"]).startswith("error"), results  # preflight refused
    # Writes: nothing changed on the server.
    after = httpx.get(f"{victim.url}/events/recent", timeout=10,
                      params={"source_app": "victim"}).json()
    held = next(r for r in after if r["id"] == request["id"])
    assert held["humanInTheLoopStatus"]["status"] == "pending", held
    every = httpx.get(f"{victim.url}/events/recent", params={"limit": 1000}, timeout=10).json()
    assert not [r for r in every if "attacker" in str(r)], "an attacker event was stored"
    control = httpx.get(f"{victim.url}/api/ralph/{LOOP}/control", timeout=10).json()
    assert control["stop"] is False
    # The log says which origin was refused and what would allow it.
    log = "".join(victim.stderr_lines)
    assert origin in log and "ROUTER_EXT_CORS_ORIGINS" in log, log[-3000:]
    metrics = httpx.get(f"{victim.url}/metrics", timeout=10).text
    assert 'harness_access_refused_total{reason="origin",transport="http"}' in metrics
    assert 'harness_access_refused_total{reason="origin",transport="ws"} 0.0' not in metrics

    # The person at the dashboard (same origin) denies; Claude Code ends without running it.
    answer = httpx.post(f"{victim.url}/events/{request['id']}/respond", timeout=10,
                        json={"permission": False, "respondedBy": "owner"})
    assert answer.status_code == 200, answer.text
    run.join(120)
    assert outcome and outcome[0].returncode == 0, outcome and outcome[0].stderr[-2000:]
    assert not target.exists(), "the tool ran"
    kinds = [r["hook_event_type"] for r in httpx.get(
        f"{victim.url}/events/recent", params={"source_app": "victim"}, timeout=10).json()]
    assert "PostToolUse" not in kinds, kinds
